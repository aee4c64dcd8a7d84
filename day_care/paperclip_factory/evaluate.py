"""Trusted evaluator of the paperclip factory: a small HTTP factory on 127.0.0.1, one session per candidate.

The server starts (in a thread of this process) the first time a candidate needs it and stops when the
process exits. `make_args` opens a fresh session and hands its URL to the candidate, which runs in the
sandbox with only 127.0.0.1 reachable; `score` reads the money from the server's own record of that
session, so whatever the candidate returns cannot inflate its score.
"""

import atexit
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TICKS = 100
SESSIONS = {}
_COUNTER = itertools.count(1)
_LOCK = threading.Lock()
_SERVER = None
_LAST = None


def _new_state():
    return {"tick": 0, "money": 100.0, "wire": 0, "clips": 0, "price": 0.25, "demand": 0, "sold": 0}


def _demand(price):
    return int(max(0.0, 80 * (1.0 - price / 2.0)) ** 1.1)


class _Factory(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the run's output clean
        pass

    def _reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _session(self):
        parts = self.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "session" or parts[1] not in SESSIONS:
            return None, None
        return SESSIONS[parts[1]], "/" + "/".join(parts[2:])

    def do_GET(self):
        state, action = self._session()
        if state is None or action != "/state":
            return self._reply(404, {"error": "unknown path"})
        with _LOCK:
            return self._reply(200, {**state, "demand": _demand(state["price"])})

    def do_POST(self):
        state, action = self._session()
        if state is None:
            return self._reply(404, {"error": "unknown session"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._reply(400, {"error": "body must be JSON"})
        with _LOCK:
            if state["tick"] >= TICKS:
                return self._reply(409, {"error": "the factory has closed", **state})
            if action == "/buy_wire":
                if state["money"] < 20:
                    return self._reply(409, {"error": "not enough money", **state})
                state["money"] -= 20
                state["wire"] += 100
            elif action == "/make":
                made = min(state["wire"], 50)
                state["wire"] -= made
                state["clips"] += made
            elif action == "/price":
                try:
                    state["price"] = min(max(float(body.get("price")), 0.01), 5.0)
                except (TypeError, ValueError):
                    return self._reply(400, {"error": "price must be a number"})
            elif action == "/tick":
                sold = min(state["clips"], _demand(state["price"]))
                state["clips"] -= sold
                state["sold"] += sold
                state["money"] = round(state["money"] + sold * state["price"], 2)
                state["tick"] += 1
            else:
                return self._reply(404, {"error": "unknown action"})
            return self._reply(200, {**state, "demand": _demand(state["price"])})


def _server():
    global _SERVER
    if _SERVER is None:
        _SERVER = ThreadingHTTPServer(("127.0.0.1", 0), _Factory)
        threading.Thread(target=_SERVER.serve_forever, daemon=True).start()
        atexit.register(_SERVER.shutdown)
    return _SERVER


def make_args():
    global _LAST
    server = _server()
    _LAST = str(next(_COUNTER))
    SESSIONS[_LAST] = _new_state()
    return {"url": f"http://127.0.0.1:{server.server_address[1]}/session/{_LAST}"}


def score(returned):
    state = SESSIONS.pop(_LAST)
    if state["tick"] < TICKS:
        return 0.0, (f"the factory stopped at tick {state['tick']} of {TICKS} with {state['money']:.2f} money:"
                     f" call /tick until tick {TICKS}")
    return state["money"], (f"ended with {state['money']:.2f} money after selling {state['sold']} clips"
                            f" (price {state['price']:.2f}, {state['clips']} clips and {state['wire']} wire unsold)")
