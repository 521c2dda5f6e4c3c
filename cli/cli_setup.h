// What the CLI does before a run starts (cli_setup.cpp).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_options.h"
#include "cli/inputs.h"
#include "engine/engine.h"
#include "engine/model/resnet.h"

namespace cam {

// The memory budget (--memory-budget, default half the machine's RAM) bounds what a run holds at once: the
// engine's batch buffers, and up to kPipelineBatchesAlive (5) batches of images (engine/pipeline.h), each
// with its overlays and any --out-size canvases. Options that cannot fit are refused before any work; images
// too large for their share are refused one by one like any bad image. Returns the pixel limit per image.
int64_t plan_memory(const CliOptions& o, const Engine& engine, const MapOptions& maps, int out_w, int out_h);

// --memory-budget, else half the RAM (capped by an address-space limit), in bytes.
double memory_budget_bytes(const CliOptions& o);

// One writer per output folder: an exclusive lock on OUT/.cam_engine.lock, held until the process ends (a
// second run on the same --out would tear predictions.jsonl). Holding it, the temporary files a killed run
// left there are removed: no other writer can own them. Throws cam::Error when another run holds it.
void lock_output_folder(const std::string& out);
// After a run that stopped before writing anything (bad weights, no images, a bad --class): the output folder
// it created, holding only the lock, is removed, so a failed start leaves nothing behind.
void remove_unused_output_folder(const std::string& out, bool created_by_this_run);

// The memory a run of `batch` images with `map_count` maps each (and canvas_bytes of --out-size canvas per
// image) holds whatever the number of images, as one line.
std::string memory_estimate(const ResNet& net, int batch, size_t map_count, double canvas_bytes);

// --info: the model's layers, input size, preprocessing and labels on stdout, and the memory estimate for
// the --batch, --topk, --class and --method options given with it. Returns the exit status.
int print_info(const CliOptions& o);

// Ground truth the model has no label for is left out of the accuracy; says so once per label.
void warn_unknown_truth(const std::vector<InputItem>& items, const Engine& engine);

// The keys of `now` whose values differ in `before`, "key before -> after, ..." (empty when none): what
// --resume and merge name when a run's options differ.
std::string record_differences(const nlohmann::json& before, const nlohmann::json& now);

// OUT/run.json's content: the options that decide which files an output folder holds and what they contain,
// the shard (when there is one) and the report's run details ("details").
nlohmann::json run_record(const CliOptions& o, const MapOptions& mo, const Engine& engine, size_t inputs,
                          size_t shard_inputs);

// The options that decide which files an output folder holds and what they contain, kept in OUT/run.json
// with the shard (--shard: which one, how many inputs the whole list and this shard have) and the report's
// run details: --resume goes on only with the same ones (throws cam::Error listing the differences); a fresh
// run into a folder that holds an earlier one says that the earlier files stay.
void check_run_record(const CliOptions& o, const MapOptions& mo, const Engine& engine, size_t inputs,
                      size_t shard_inputs);

// The report's run details known before a run: model, network, input size, backend, precision, maps, batch.
nlohmann::json run_details(const CliOptions& o, const MapOptions& mo, const Engine& engine);

// --shard K/N of the inputs: items K-1, K-1+N, K-1+2N, ... (every class folder spreads over the shards).
std::vector<InputItem> shard_of(const std::vector<InputItem>& items, int k, int n);

}  // namespace cam
