"""Worker program of tests/unit/test_pymods_kvstore_server.py (started by mxrs.launch with a
dedicated server): profiles the server through ``profile_process='server'``.

``python pymods_profile_server.py OUT_DIR``: server ``i`` writes OUT_DIR/rank<i>_server.json;
the worker writes OUT_DIR/worker.json (what it saw).
"""

import json
import os
import sys

import mxrs as mx

out_dir = sys.argv[1]
kv = mx.kv.create("dist_sync")
seen = {"handle_set": mx.profiler.profiler_kvstore_handle is kv.handle}
kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1))
kv.init(3, mx.nd.ones((4, 5)))
mx.profiler.set_config(profile_all=True, filename=os.path.join(out_dir, "server.json"), profile_process="server")
mx.profiler.set_state("run", profile_process="server")
a = mx.nd.zeros((4, 5))
for _ in range(3):
    kv.push(3, mx.nd.ones((4, 5)))
    kv.pull(3, out=a)
mx.profiler.pause(profile_process="server")
kv.push(3, mx.nd.ones((4, 5)))
kv.pull(3, out=a)
mx.profiler.resume(profile_process="server")
mx.profiler.set_state("stop", profile_process="server")
mx.profiler.dump(profile_process="server")
kv.barrier()
seen["value"] = float(a.asnumpy()[0, 0])
seen["server_files"] = sorted(f for f in os.listdir(out_dir) if f.endswith("_server.json"))
# The worker's own profiler was not touched.
seen["worker_file"] = os.path.exists(os.path.join(out_dir, "server.json"))
with open(os.path.join(out_dir, "worker.json"), "w") as f:
    json.dump(seen, f)
