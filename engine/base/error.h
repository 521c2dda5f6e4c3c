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

// A weights file that cannot be read or is not a network the engine runs (Engine's constructor), apart
// from the other user errors so that fronts can tell the kinds apart (the Python package's WeightsError).
class WeightsError : public Error {
 public:
  using Error::Error;
};

}  // namespace cam
