// Turning command-line arguments into the list of images to process: list files (one path per line, optional
// tab-separated ground truth, '#' comments, relative paths against the list's folder; "-" reads stdin),
// folders (recursive, sorted, image extensions only) and plain image paths. Each item gets a collision-free
// output name.
#pragma once
#include <istream>
#include <string>
#include <vector>

namespace cam {

struct InputItem {
  std::string path;    // as opened
  std::string truth;   // ground-truth label, empty when unknown
  std::string output;  // output name stem relative to the output folder, e.g. "Apple/img_001"
};

bool is_image_path(const std::string& path);  // by extension: jpg jpeg png bmp tga gif

// Reads a list; `base_dir` resolves relative paths. Throws cam::Error naming `list_name` and the line.
std::vector<InputItem> parse_list(std::istream& in, const std::string& base_dir,
                                  const std::string& list_name);

// Recursively lists the images below `folder`, sorted; with labels_from_folders the parent folder is the
// truth.
std::vector<InputItem> list_folder(const std::string& folder, bool labels_from_folders);

// Classifies each argument ("-", folder, list file *.txt/*.lst/*.list, image) and collects everything in
// order, then assigns output names. Throws cam::Error for a missing argument path or an unreadable list.
std::vector<InputItem> collect_inputs(const std::vector<std::string>& args, bool labels_from_folders,
                                      std::istream& standard_input);

// Output stems: the relative path without extension; where two items collide, with extension; where they
// still collide, the item's full path mirrored below the output folder.
void assign_output_names(std::vector<InputItem>& items);

}  // namespace cam
