// cam::Error: every problem with user input (files, weights, images, options) is thrown as one of these, with
// a one-line message that names the file and what is wrong. GPU failures do not use it: they abort
// (kernels/common.cuh).
#pragma once
#include <stdexcept>
#include <string>

namespace cam {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace cam
