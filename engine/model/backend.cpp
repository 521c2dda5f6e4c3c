// What engine/model/backend.h declares beside the interface: the default submit/collect (the batch run at
// submit), the classes a batch maps, the check of a backend's methods, and an image's ranked result.
#include "engine/model/backend.h"

#include <algorithm>

#include "engine/base/error.h"

namespace cam {

std::vector<int> classes_to_map(const std::vector<int>& top, const std::vector<int>& requested) {
  std::vector<int> classes = top;
  classes.insert(classes.end(), requested.begin(), requested.end());
  return classes;
}

void check_backend_methods(const std::vector<CamMethod>& methods) {
  if (methods.empty()) throw Error("a batch needs at least one map method");
  if (std::count(methods.begin(), methods.end(), CamMethod::kScoreCam))
    throw Error("Score-CAM needs masked forwards: it runs through Engine (run_methods), not a backend's run");
}

uint64_t Backend::submit(const BatchRequest& request) {
  if (finished_.size() >= static_cast<size_t>(kMaxInFlight))
    throw Error("submit: " + std::to_string(kMaxInFlight) + " batches in flight; collect one first");
  run(request, finished_[next_ticket_]);
  return next_ticket_++;
}

void Backend::collect(uint64_t ticket, std::vector<ImageResult>& results) {
  auto it = finished_.find(ticket);
  if (it == finished_.end()) throw Error("collect: no batch in flight has ticket " + std::to_string(ticket));
  results = std::move(it->second);
  finished_.erase(it);
}

}  // namespace cam
