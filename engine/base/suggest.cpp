// Edit distance and nearest names, for the "did you mean" of option and class-label errors.
#include "engine/base/suggest.h"

#include <algorithm>

namespace cam {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::vector<size_t> nearest_names(const std::string& wanted, const std::vector<std::string>& names,
                                  size_t count) {
  std::vector<std::pair<size_t, size_t>> ranked;  // (distance, position in names)
  for (size_t i = 0; i < names.size(); ++i) ranked.emplace_back(edit_distance(wanted, names[i]), i);
  std::sort(ranked.begin(), ranked.end());
  std::vector<size_t> nearest;
  for (size_t i = 0; i < std::min(count, ranked.size()); ++i) nearest.push_back(ranked[i].second);
  return nearest;
}

}  // namespace cam
