"""The REST client (keras_resnet.export.predict) against misbehaving servers on 127.0.0.1: a deadline for the whole
call, a cap on the reply's size, and one line for a reply that is not a prediction of labels and scores per image."""

import http.server
import io
import json
import threading
import time

import pytest
from PIL import Image

from keras_resnet.export import predict


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (4, 4), 100).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def server():
    """serve(handler) -> the address of a local HTTP server answering every POST with `handler(self)`."""
    started = []

    def serve(answer):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def json_reply(body):
    def answer(handler):
        data = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    return answer


def test_a_reply_dribbled_past_the_timeout_is_cut_at_the_deadline(server):
    """A byte every 0.3 s keeps each read alive: the deadline is for the whole call (it ran past a minute before)."""
    def dribble(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        for _ in range(40):  # 12 s at most
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.3)

    address = server(dribble)
    start = time.monotonic()
    with pytest.raises(ValueError, match=rf"^TF Serving at {address} gave no whole reply within --timeout=1 s\.$"):
        predict.predict_rest(address, "m", [png()], timeout=1.0)
    assert time.monotonic() - start < 3


def test_a_reply_announcing_gigabytes_is_refused_unread(server):
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(3 * 2**30))
        handler.end_headers()
        handler.wfile.write(b"{" * 1000)

    with pytest.raises(ValueError, match=r"announces 3,221,225,472 bytes, over the 67,108,864 this client reads"):
        predict.predict_rest(server(huge), "m", [png()], timeout=10)


def test_a_reply_growing_past_the_cap_is_not_read_further(server, monkeypatch):
    monkeypatch.setattr(predict, "MAX_REPLY_BYTES", 1000)

    def endless(handler):
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: read until the server closes
        for _ in range(100):
            handler.wfile.write(b" " * 100)

    with pytest.raises(ValueError, match=r"reply passed 1,000 bytes for 1 image\(s\); it was not read further"):
        predict.predict_rest(server(endless), "m", [png()], timeout=10)


PREDICTION = {"labels": ["ant", "bee"], "scores": [0.9, 0.1]}


@pytest.mark.parametrize("body, message", [
    ({"predictions": [PREDICTION]}, r"TF Serving answered 1 prediction\(s\) for 2 image\(s\): every image needs one"),
    ({"error": "no such model"}, r"TF Serving's reply has no predictions \(it holds \['error'\]\): export the model "
                                 r"with `keras-resnet export`"),
    ({"predictions": [[0.1, 0.9], [0.5, 0.5]]}, r"predictions are bare tensors \(a plain Keras export's outputs\), "
                                                r"not labels and scores"),
    ({"predictions": [{"probabilities": [0.1]}, {"probabilities": [0.1]}]}, r"predictions are outputs "
                                                                             r"\['probabilities'\]"),
])
def test_a_reply_that_is_not_a_prediction_per_image_is_one_line(server, body, message):
    with pytest.raises(ValueError, match=message):
        predict.predict_rest(server(json_reply(body)), "m", [png(), png()], timeout=10)


def test_a_whole_reply_is_each_images_labels_and_scores(server):
    address = server(json_reply({"predictions": [PREDICTION, PREDICTION]}))
    assert predict.predict_rest(address, "m", [png(), png()], timeout=10) == [(["ant", "bee"], [0.9, 0.1])] * 2


def test_a_server_error_is_its_status_and_message(server):
    def fail(handler):
        handler.send_response(404)
        handler.end_headers()
        handler.wfile.write(b'{"error": "Servable not found for request: Latest(m)"}')

    with pytest.raises(ValueError, match=r"^TF Serving answered 404: \{\"error\": \"Servable not found"):
        predict.predict_rest(server(fail), "m", [png()], timeout=10)
