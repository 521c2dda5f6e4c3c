// safetensors reader: reads the file whole and validates header, table and data layout before use.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "engine/base/error.h"
#include "engine/io/read_file.h"

namespace cam {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;
constexpr size_t kMaxFileBytes = size_t{4} << 30;  // 4 GiB

struct DTypeName {
  const char* name;
  DType dtype;
  size_t size;
};

constexpr DTypeName kDTypes[] = {
    {"BOOL", DType::kBool, 1},      {"U8", DType::kU8, 1},          {"I8", DType::kI8, 1},
    {"F8_E5M2", DType::kF8E5M2, 1}, {"F8_E4M3", DType::kF8E4M3, 1}, {"I16", DType::kI16, 2},
    {"U16", DType::kU16, 2},        {"F16", DType::kF16, 2},        {"BF16", DType::kBF16, 2},
    {"I32", DType::kI32, 4},        {"U32", DType::kU32, 4},        {"F32", DType::kF32, 4},
    {"F64", DType::kF64, 8},        {"I64", DType::kI64, 8},        {"U64", DType::kU64, 8},
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint16_t read_u16_le(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

// nlohmann::json keeps the last of duplicate keys silently; this callback refuses them instead.
// A SAX pass that finds the first duplicate top-level key. (nlohmann's parser with a callback is quadratic in
// the number of keys: 20,000 tensors took 4 s; this pass and a plain parse are linear.)
struct DuplicateKeyFinder : nlohmann::json_sax<nlohmann::json> {
  int depth = 0;
  std::set<std::string> keys;
  std::string duplicate;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth, true; }
  bool end_object() override { return --depth, true; }
  bool start_array(std::size_t) override { return ++depth, true; }
  bool end_array() override { return --depth, true; }
  bool key(string_t& k) override {
    if (depth == 1 && !keys.insert(k).second) duplicate = k;
    return duplicate.empty();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

nlohmann::json parse_header(const std::string& path, const char* begin, const char* end) {
  DuplicateKeyFinder finder;
  nlohmann::json::sax_parse(begin, end, &finder);
  if (!finder.duplicate.empty()) fail(path, "duplicate tensor name '" + finder.duplicate + "' in the header");
  try {
    return nlohmann::json::parse(begin, end);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("malformed JSON header: ") + e.what() +
                   " (hint: not a safetensors file, or truncated?)");
  }
}

bool contains(const uint8_t* bytes, size_t size, const char* text) {
  const size_t n = std::strlen(text);
  return std::search(bytes, bytes + size, text, text + n) != bytes + size;
}

// What a file that is not safetensors is, from its first bytes (and, for zip archives, the names they hold),
// so that a model given as it was saved gets the command that converts it; empty when unknown.
std::string foreign_format_message(const std::string& path, const uint8_t* bytes, size_t size) {
  const std::string convert = ", not safetensors; convert it with tools/convert.py " + path +
                              " -o model.safetensors (see its --help: labels, input size, --check)";
  auto starts = [&](size_t at, const char* magic, size_t n) {
    return size >= at + n && std::memcmp(bytes + at, magic, n) == 0;
  };
  if (starts(0, "PK\x03\x04", 4)) {
    if (contains(bytes, size, "data.pkl")) return "this is a PyTorch file (torch.save, zip)" + convert;
    if (contains(bytes, size, "model.weights.h5") || contains(bytes, size, "metadata.json"))
      return "this is a Keras 3 .keras file (zip)" + convert;
    return "this is a zip archive" + convert;
  }
  if (size >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5)
    return "this is a PyTorch file (torch.save, legacy pickle)" + convert;
  for (size_t at : {0, 512, 1024, 2048})  // HDF5 allows a user block before its signature
    if (starts(at, "\x89HDF\r\n\x1a\n", 8))
      return "this is an HDF5 file (Keras .h5 or .weights.h5)" + convert;
  // ONNX ModelProto: field 1 (ir_version, a small varint), then another field's tag
  if (size >= 3 && bytes[0] == 0x08 && bytes[1] >= 1 && bytes[1] <= 20 &&
      (bytes[2] == 0x12 || bytes[2] == 0x1a || bytes[2] == 0x22 || bytes[2] == 0x28 || bytes[2] == 0x32 ||
       bytes[2] == 0x3a || bytes[2] == 0x42))
    return "this is an ONNX file" + convert;
  if (starts(0, "\xff\xd8\xff", 3) || starts(0, "\x89PNG", 4))
    return "this is an image, not a model (a weights file is .safetensors)";
  return "";
}

// One tensor's table entry (name: {dtype, shape, data_offsets}) checked against the data section (data,
// data_len bytes).
TensorView tensor_entry(const std::string& path, const std::string& name, const nlohmann::json& entry,
                        const uint8_t* data, uint64_t data_len) {
  const std::string where = "tensor '" + name + "'";
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets"))
    fail(path, where + ": entry needs dtype, shape and data_offsets");
  if (!entry["dtype"].is_string()) fail(path, where + ": dtype is not a string");
  TensorView t;
  t.name = name;
  t.dtype_name = entry["dtype"].get<std::string>();
  size_t elem = 0;
  for (const DTypeName& d : kDTypes)
    if (t.dtype_name == d.name) t.dtype = d.dtype, elem = d.size;
  if (elem == 0) fail(path, where + ": unknown dtype '" + t.dtype_name + "'");
  const nlohmann::json& shape = entry["shape"];
  if (!shape.is_array()) fail(path, where + ": shape is not an array");
  uint64_t numel = 1;
  for (const nlohmann::json& d : shape) {
    if (!d.is_number_unsigned()) fail(path, where + ": shape has a non-integer or negative dimension");
    uint64_t dim = d.get<uint64_t>();
    if (dim != 0 && numel > UINT64_MAX / dim) fail(path, where + ": shape overflows 64 bits");
    numel *= dim;
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  const nlohmann::json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail(path, where + ": data_offsets must be two non-negative integers");
  uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  if (end < begin)
    fail(path, where + ": data_offsets end " + std::to_string(end) + " < begin " + std::to_string(begin));
  if (numel > UINT64_MAX / elem) fail(path, where + ": byte size overflows 64 bits");
  if (end - begin != numel * elem)
    fail(path, where + ": byte length " + std::to_string(end - begin) + " does not match shape " +
                   shape_string(t.shape) + " x " + t.dtype_name + " = " + std::to_string(numel * elem) +
                   " bytes");
  if (end > data_len)
    fail(path, where + ": data_offsets end " + std::to_string(end) + " beyond the data section (" +
                   std::to_string(data_len) + " bytes; truncated?)");
  t.data = data + begin;
  t.nbytes = end - begin;
  return t;
}

// The tensors must tile the data section: sorted by offset, each begins where the one before ends, and the
// last ends at the section's end.
void check_contiguous(const std::string& path, const std::map<std::string, TensorView>& tensors,
                      const uint8_t* data, uint64_t data_len) {
  std::vector<const TensorView*> by_offset;
  for (const auto& kv : tensors) by_offset.push_back(&kv.second);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorView* a, const TensorView* b) {
    return a->data != b->data ? a->data < b->data : a->nbytes < b->nbytes;
  });
  uint64_t expected = 0;
  for (const TensorView* t : by_offset) {
    uint64_t begin = static_cast<uint64_t>(t->data - data);
    if (begin < expected)
      fail(path, "tensor '" + t->name + "': data_offsets begin " + std::to_string(begin) +
                     " overlaps the previous tensor (which ends at " + std::to_string(expected) + ")");
    if (begin > expected)
      fail(path, "tensor '" + t->name + "': data_offsets begin " + std::to_string(begin) +
                     " leaves a gap after byte " + std::to_string(expected) +
                     " (offsets must be contiguous)");
    expected = begin + t->nbytes;
  }
  if (expected != data_len)
    fail(path, "data section is " + std::to_string(data_len) + " bytes but the tensors cover " +
                   std::to_string(expected) + " (file padded or truncated)");
}

}  // namespace

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
  return s + (shape.size() == 1 ? ",)" : ")");
}

size_t dtype_size(DType t) {
  for (const DTypeName& d : kDTypes)
    if (d.dtype == t) return d.size;
  return 0;
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: renormalise
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    bits = sign | static_cast<uint32_t>(112 - e) << 23 | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

float bfloat16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// The file is read, not memory-mapped: a file truncated while mapped kills the process with SIGBUS on the
// first access past its new end, while a short read is an error that names the file.
SafeTensors::SafeTensors(const std::string& path)
    : SafeTensors(path, read_regular_file(path, kMaxFileBytes, "weights file")) {}

SafeTensors::SafeTensors(const std::string& name, std::vector<uint8_t> bytes)
    : path_(name), owned_(std::move(bytes)) {
  if (owned_.size() < 8)
    fail(name, "file is " + std::to_string(owned_.size()) +
                   " bytes, too short for the 8-byte header length (truncated?)");
  parse(owned_.data(), owned_.size());
}

SafeTensors::~SafeTensors() = default;

void SafeTensors::parse(const uint8_t* bytes, size_t size) {
  uint64_t header_len = read_u64_le(bytes);
  const bool plausible =
      header_len <= kMaxHeaderBytes && header_len + 8 <= size && header_len > 0 && bytes[8] == '{';
  const std::string foreign = plausible ? "" : foreign_format_message(path_, bytes, size);
  if (!foreign.empty()) fail(path_, foreign);
  if (header_len > kMaxHeaderBytes)
    fail(path_, "header length " + std::to_string(header_len) +
                    " exceeds the 100 MB limit (not a safetensors file?)");
  if (header_len + 8 > size)
    fail(path_, "header length " + std::to_string(header_len) + " reaches beyond the end of the file (size " +
                    std::to_string(size) + " bytes; truncated?)");
  const char* header = reinterpret_cast<const char*>(bytes + 8);
  if (header_len == 0 || header[0] != '{')
    fail(path_, "header does not start with '{' (not a safetensors file?)");
  nlohmann::json table = parse_header(path_, header, header + header_len);
  if (!table.is_object()) fail(path_, "header is not a JSON object");

  const uint8_t* data = bytes + 8 + header_len;
  uint64_t data_len = size - 8 - header_len;
  for (auto it = table.begin(); it != table.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path_, "__metadata__ is not a JSON object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) fail(path_, "__metadata__ value '" + m.key() + "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    tensors_.emplace(name, tensor_entry(path_, name, entry, data, data_len));
  }
  check_contiguous(path_, tensors_, data, data_len);
}

const TensorView& SafeTensors::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path_, "missing tensor '" + name + "'");
  return it->second;
}

std::vector<float> SafeTensors::to_float(const TensorView& t) const {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t* p = t.data + i * dtype_size(t.dtype);
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], p, 4);
    } else if (t.dtype == DType::kF16) {
      out[i] = half_to_float(read_u16_le(p));
    } else if (t.dtype == DType::kBF16) {
      out[i] = bfloat16_to_float(read_u16_le(p));
    } else {
      fail(path_, "tensor '" + t.name + "': dtype " + t.dtype_name +
                      " is not a weight type (expected F32, F16 or BF16)");
    }
    if (!std::isfinite(out[i]))
      fail(path_, "tensor '" + t.name + "': element " + std::to_string(i) + " is " +
                      (std::isnan(out[i]) ? "NaN" : "Inf") + " (expected finite weights)");
  }
  return out;
}

}  // namespace cam
