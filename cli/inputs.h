// Turning command-line arguments into the list of images to process: list files (one path per line, optional
// tab-separated ground truth, '#' comments, relative paths against the list's folder; "-" reads stdin),
// folders (recursive, sorted, image extensions only) and plain image paths. Each item gets a collision-free
// output name.
//
// Naming rule: an item's output name is its path relative to the common input root, the deepest folder that
// holds every folder given, every file given and every list entry, extension kept: `Test/Apple/r0_1.jpg`
// under the root `Test` is `Apple/r0_1.jpg`, and its overlays are `Apple/r0_1.jpg.top1.png`, ... A path given
// more than once keeps its name on the first occurrence and gets `~2`, `~3`, ... after it on the later ones.
#pragma once
#include <istream>
#include <string>
#include <vector>

namespace cam {

struct InputItem {
  std::string path;    // as opened
  std::string truth;   // ground-truth label, empty when unknown
  std::string output;  // output name relative to the output folder, e.g. "Apple/img_001.jpg"
  std::string anchor;  // the folder the item was found in or under (a folder argument, a file's folder);
                       // emptied by assign_output_names, which is its only reader
};

bool is_image_path(const std::string& path);  // by extension: jpg jpeg png bmp tga gif

// File names are bytes, JSON is UTF-8. Length of the valid UTF-8 sequence at s[i], 0 if none starts there.
size_t utf8_sequence_length(const std::string& s, size_t i);
bool is_valid_utf8(const std::string& s);
// Every byte that is not part of valid UTF-8 as %XX (and, with all_bytes, every byte outside printable
// ASCII and '%' itself, which makes it reversible).
std::string percent_escape(const std::string& s, bool all_bytes);

// Reads a list; `base_dir` resolves relative paths. Throws cam::Error naming `list_name` and the line.
std::vector<InputItem> parse_list(std::istream& in, const std::string& base_dir,
                                  const std::string& list_name);

// Recursively lists the images below `folder`, sorted; with labels_from_folders the parent folder is the
// truth.
// Folders that cannot be read, looping links and image names that are not regular files are skipped, each
// kind said once in `notes` (optional).
std::vector<InputItem> list_folder(const std::string& folder, bool labels_from_folders,
                                   std::vector<std::string>* notes = nullptr);

// Classifies each argument ("-", folder, list file *.txt/*.lst/*.list, image) and collects everything in
// order, then assigns output names. With labels_from_folders each image's parent folder is its truth unless
// its list line gives one after a TAB. Throws cam::Error for a missing argument path or an unreadable list.
// `notes` (optional) receives one line per thing worth a warning (a folder with no images).
std::vector<InputItem> collect_inputs(const std::vector<std::string>& args, bool labels_from_folders,
                                      std::istream& standard_input,
                                      std::vector<std::string>* notes = nullptr);

// Image paths as items, as a list file's lines are (not checked here: one that cannot be read fails when it
// is decoded), with output names; with labels_from_folders each parent folder is the truth.
std::vector<InputItem> image_items(const std::vector<std::string>& paths, bool labels_from_folders);

// Sets every item's output name by the naming rule above.
void assign_output_names(std::vector<InputItem>& items);

}  // namespace cam
