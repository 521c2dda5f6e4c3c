// Suggestions for a mistyped name (an option, a class label): the closest names by edit distance.
#pragma once
#include <string>
#include <vector>

namespace cam {

// Levenshtein distance: insertions, deletions and substitutions of single bytes.
size_t edit_distance(const std::string& a, const std::string& b);

// The positions in `names` of up to `count` names, closest to `wanted` first (ties in the order given).
std::vector<size_t> nearest_names(const std::string& wanted, const std::vector<std::string>& names,
                                  size_t count);

}  // namespace cam
