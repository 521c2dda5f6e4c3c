// cam_engine merge: the --out folders of `--shard 1/N` ... `N/N` joined into one, as the unsharded run would
// have written it: predictions.jsonl in the order of the whole input list (the shards' lines as they are),
// every file the records name (hard-linked where the file system allows, else copied), run.json without
// the shard, and predictions.csv and index.html where the shards wrote them (or when asked).
#pragma once

namespace cam {

// argv[0] is "merge". Returns the exit status: 0 merged, 2 refused (a missing, unfinished or mismatched
// shard, with a one-line reason naming the folder).
int merge_main(int argc, char** argv);

}  // namespace cam
