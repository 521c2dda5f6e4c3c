// Reading a whole input file safely: only a regular file (a folder, FIFO, device or socket is refused without
// waiting on it: a FIFO is opened non-blocking), its size checked against a limit before anything is
// allocated, every read checked. Shared by images and weights.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cam {

// `what` names the kind of file expected in messages ("image file", "weights file"). Throws cam::Error
// "<path>: cannot open <what> (reason)", "<path>: not a[n] <what> (a FIFO)", "<path>: file is N bytes, over
// the limit of M bytes for <what>" or "<path>: read error (reason)".
std::vector<uint8_t> read_regular_file(const std::string& path, size_t max_bytes, const std::string& what);

}  // namespace cam
