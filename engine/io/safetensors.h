// Reader of the safetensors format (huggingface spec): an 8-byte little-endian header length N, N bytes of
// JSON (tensor table + optional "__metadata__" string map), then the raw little-endian tensor data. The file
// is read whole (at most 4 GiB; a read, unlike a mapping, cannot die of SIGBUS when the file is truncated
// meanwhile); every spec rule is checked before any tensor is handed out (docs/conventions.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cam {

enum class DType {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64
};

struct TensorView {
  std::string name;
  DType dtype;
  std::string dtype_name;
  std::vector<int64_t> shape;
  const uint8_t* data;  // points into the mapping
  size_t nbytes;

  int64_t numel() const;
};

class SafeTensors {
 public:
  // Throws cam::Error naming `path` and the rule broken.
  explicit SafeTensors(const std::string& path);
  // The same checks on bytes already in memory (taken over); `name` stands for the path in messages.
  SafeTensors(const std::string& name, std::vector<uint8_t> bytes);
  ~SafeTensors();
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorView& get(const std::string& name) const;  // throws "missing tensor"
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Copies a F32/F16/BF16 tensor into fp32, refusing NaN/Inf and other dtypes.
  std::vector<float> to_float(const TensorView& t) const;

 private:
  void parse(const uint8_t* bytes, size_t size);

  std::string path_;
  std::vector<uint8_t> owned_;  // the file's bytes
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

size_t dtype_size(DType t);
// "(3, 7, 7)", "(64,)"; a negative dimension prints as "*" (any size, in expected shapes).
std::string shape_string(const std::vector<int64_t>& shape);
float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);

}  // namespace cam
