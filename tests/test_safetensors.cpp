// The safetensors reader on crafted files: every spec rule gives an error naming the file, the tensor and
// expected vs found; valid files read back exactly in F32, F16 and BF16.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>

#include "engine/base/error.h"
#include "engine/io/safetensors.h"
#include "tests/test_util.h"

namespace {

std::string dir = camtest::temp_dir();

std::vector<uint8_t> floats_le(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// Opens a crafted file and returns the error message ("" when it loads).
std::string error_for(const std::string& header, const std::vector<uint8_t>& data) {
  std::string path = dir + "/crafted.safetensors";
  camtest::write_raw_safetensors(path, header, data);
  try {
    cam::SafeTensors file(path);
    for (const auto& kv : file.tensors()) file.to_float(kv.second);
    return "";
  } catch (const cam::Error& e) {
    return e.what();
  }
}

const std::vector<uint8_t> kEightFloats = floats_le({1, 2, 3, 4, 5, 6, 7, 8});

}  // namespace

TEST_CASE("valid file: tensors, dtypes and metadata read back exactly") {
  // a: F32 (2,), b: F16 (2,) = {1.0, -2.5}, c: BF16 (2,) = {0.5, 3.0}
  std::vector<uint8_t> data = floats_le({1.5f, -0.25f});
  uint16_t f16[2] = {0x3C00, 0xC100}, bf16[2] = {0x3F00, 0x4040};
  data.insert(data.end(), reinterpret_cast<uint8_t*>(f16), reinterpret_cast<uint8_t*>(f16) + 4);
  data.insert(data.end(), reinterpret_cast<uint8_t*>(bf16), reinterpret_cast<uint8_t*>(bf16) + 4);
  std::string header =
      R"({"__metadata__":{"labels":"[\"x\"]"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"c":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]}}  )";
  std::string path = dir + "/valid.safetensors";
  camtest::write_raw_safetensors(path, header, data);
  cam::SafeTensors file(path);
  CHECK(file.metadata().at("labels") == "[\"x\"]");
  CHECK(file.to_float(file.get("a")) == std::vector<float>{1.5f, -0.25f});
  CHECK(file.to_float(file.get("b")) == std::vector<float>{1.0f, -2.5f});
  CHECK(file.to_float(file.get("c")) == std::vector<float>{0.5f, 3.0f});
  CHECK(file.get("a").shape == std::vector<int64_t>{2});
}

TEST_CASE("half conversion covers subnormals, infinities and signs") {
  CHECK(cam::half_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(cam::half_to_float(0x03FF) == std::ldexp(1023.0f, -24));
  CHECK(cam::half_to_float(0x7BFF) == 65504.0f);
  CHECK(std::isinf(cam::half_to_float(0x7C00)));
  CHECK(std::isnan(cam::half_to_float(0x7E00)));
  CHECK(cam::half_to_float(0x8000) == -0.0f);
  CHECK(std::signbit(cam::half_to_float(0x8000)));
}

TEST_CASE("file shorter than the 8-byte length") {
  std::string path = dir + "/short.safetensors";
  camtest::write_bytes(path, {1, 2, 3});
  CHECK_THROWS_WITH_AS(cam::SafeTensors{path}, doctest::Contains("3 bytes, too short"), cam::Error);
  camtest::write_bytes(path, {});
  CHECK_THROWS_WITH_AS(cam::SafeTensors{path}, doctest::Contains("short.safetensors: file is 0 bytes"),
                       cam::Error);
}

TEST_CASE("missing file names the path") {
  CHECK_THROWS_WITH_AS(cam::SafeTensors{dir + "/nope.safetensors"},
                       doctest::Contains("nope.safetensors: cannot open"), cam::Error);
}

TEST_CASE("header length beyond the file") {
  std::string path = dir + "/beyond.safetensors";
  std::vector<uint8_t> bytes = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  camtest::write_bytes(path, bytes);
  CHECK_THROWS_WITH_AS(cam::SafeTensors{path},
                       doctest::Contains("header length 200 reaches beyond the end of the file (size 10"),
                       cam::Error);
  bytes = {0, 0, 0, 0, 0, 1, 0, 0};  // 2^40
  camtest::write_bytes(path, bytes);
  CHECK_THROWS_WITH_AS(cam::SafeTensors{path}, doctest::Contains("exceeds the 100 MB limit"), cam::Error);
}

TEST_CASE("a model file of another kind is named, with the command that converts it") {
  // first bytes as the libraries write them (tests/test_convert.py gives real torch.save, h5py and ONNX
  // files)
  const std::string path = dir + "/model.bin";
  auto message = [&](const std::string& start) {
    std::string bytes = start + std::string(64, '\0');
    camtest::write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    try {
      cam::SafeTensors file(path);
    } catch (const cam::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string convert =
      ", not safetensors; convert it with tools/convert.py " + path + " -o model.safetensors";
  CHECK(message(std::string("PK\x03\x04\x00\x00"
                            "archive/data.pkl",
                            22)) == path + ": this is a PyTorch file (torch.save, zip)" + convert +
                                        " (see its --help: labels, input size, --check)");
  CHECK(message(std::string("PK\x03\x04\x00\x00"
                            "metadata.json",
                            19))
            .find("this is a Keras 3 .keras file (zip)" + convert) != std::string::npos);
  CHECK(message("\x80\x02\x8a\x0a").find("this is a PyTorch file (torch.save, legacy pickle)" + convert) !=
        std::string::npos);
  CHECK(message("\x89HDF\r\n\x1a\n").find("this is an HDF5 file (Keras .h5 or .weights.h5)" + convert) !=
        std::string::npos);
  CHECK(message(std::string(512, '\0') + "\x89HDF\r\n\x1a\n").find("this is an HDF5 file") !=
        std::string::npos);
  CHECK(message("\x08\x07\x12\x07pytorch").find("this is an ONNX file" + convert) != std::string::npos);
  CHECK(message("\xff\xd8\xff\xe0").find("this is an image, not a model") != std::string::npos);
  CHECK(message("\x01\x02\x03\xff").find("exceeds the 100 MB limit") !=
        std::string::npos);  // unknown: as before
}

TEST_CASE("malformed JSON, wrong top-level type, bad first byte") {
  CHECK(error_for(R"({"a":{"dtype":"F32",)", {}).find("malformed JSON header") != std::string::npos);
  CHECK(error_for(R"( {"a":1})", {}).find("does not start with '{'") != std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[2]}})", {})
            .find("tensor 'a': entry needs dtype, shape and data_offsets") != std::string::npos);
  CHECK(error_for(R"({"__metadata__":{"k":3}})", {}).find("__metadata__ value 'k' is not a string") !=
        std::string::npos);
  CHECK(error_for("{\"a\xff\":1}", {}).find("malformed JSON header") != std::string::npos);
}

TEST_CASE("duplicate tensor names") {
  std::string e = error_for(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      floats_le({1, 2}));
  CHECK(e.find("duplicate tensor name 'a'") != std::string::npos);
}

// The header check must be linear in the tensor count: nlohmann's callback parser took 112 s for 100,000
// tensors, and this suite's TIMEOUT (tests/CMakeLists.txt, 120 s) stops such a run.
TEST_CASE("100,000 tensors: the header is parsed (and a duplicate among them found)") {
  std::string header = "{";
  std::vector<uint8_t> data;
  for (int i = 0; i < 100000; ++i) {
    header += (i ? ",\"t" : "\"t") + std::to_string(i) +
              "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(4 * i) + "," +
              std::to_string(4 * i + 4) + "]}";
    data.insert(data.end(), 4, 0);
  }
  CHECK(error_for(header + "}", data) == "");
  header += ",\"t99999\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  CHECK(error_for(header, data).find("duplicate tensor name 't99999'") != std::string::npos);
}

TEST_CASE("unknown dtype and non-weight dtype") {
  CHECK(error_for(R"({"a":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", kEightFloats)
            .find("tensor 'a': unknown dtype 'F12'") != std::string::npos);
  std::string e = error_for(R"({"a":{"dtype":"I32","shape":[8],"data_offsets":[0,32]}})", kEightFloats);
  CHECK(e.find("tensor 'a': dtype I32 is not a weight type (expected F32, F16 or BF16)") !=
        std::string::npos);
}

TEST_CASE("byte length must equal numel x dtype size") {
  std::string e = error_for(R"({"w":{"dtype":"F32","shape":[3,3],"data_offsets":[0,32]}})", kEightFloats);
  CHECK(e.find("tensor 'w': byte length 32 does not match shape (3, 3) x F32 = 36 bytes") !=
        std::string::npos);
  e = error_for(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,32]}})",
                kEightFloats);
  CHECK(e.find("tensor 'w': shape overflows 64 bits") != std::string::npos);
  e = error_for(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,32]}})", kEightFloats);
  CHECK(e.find("negative dimension") != std::string::npos);
}

TEST_CASE("offsets: overlapping, gaps, reversed, beyond the data, padding") {
  CHECK(
      error_for(
          R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
          kEightFloats)
          .find("tensor 'b': data_offsets begin 8 overlaps the previous tensor (which ends at 16)") !=
      std::string::npos);
  CHECK(
      error_for(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})",
          kEightFloats)
          .find("tensor 'b': data_offsets begin 16 leaves a gap after byte 8") != std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", kEightFloats)
            .find("end 0 < begin 8") != std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]}})", kEightFloats)
            .find("tensor 'a': data_offsets end 64 beyond the data section (32 bytes; truncated?)") !=
        std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", kEightFloats)
            .find("data section is 32 bytes but the tensors cover 16 (file padded or truncated)") !=
        std::string::npos);
}

TEST_CASE("NaN and Inf weights are refused with the element index") {
  std::vector<float> v = {1, 2, NAN, 4, 5, 6, 7, 8};
  CHECK(error_for(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", floats_le(v))
            .find("tensor 'w': element 2 is NaN") != std::string::npos);
  v[2] = 3;
  v[7] = INFINITY;
  CHECK(error_for(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", floats_le(v))
            .find("tensor 'w': element 7 is Inf") != std::string::npos);
}

// A weights file truncated while it is being loaded: the loader read it whole, so the tensors stay readable
// (a memory-mapped file gave SIGBUS, with no message, on the first access past the new end).
TEST_CASE("a file truncated after it was opened: its tensors stay readable, no SIGBUS") {
  const std::string path = dir + "/shrinking.safetensors";
  std::vector<float> values(1 << 16, 0.5f);
  camtest::write_raw_safetensors(path, R"({"w":{"dtype":"F32","shape":[65536],"data_offsets":[0,262144]}})",
                                 floats_le(values));
  cam::SafeTensors file(path);
  REQUIRE(truncate(path.c_str(), 16) == 0);
  std::vector<float> got = file.to_float(file.get("w"));
  CHECK(got.size() == values.size());
  CHECK(got.back() == 0.5f);
}
