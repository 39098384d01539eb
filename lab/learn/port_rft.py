"""The article's "RFT 的实现示例" (tf.js), ported line for line to Keras 3 on the torch backend.

Run it: ``python -m lab.learn.port_rft``. The snippet's own lines come first, in its order and with its names
(``taskData`` → ``task_data``, ``rftOptimize`` → ``rft_optimize``); each change it needed to run at all is marked
``# FIX n:`` (their texts: ``lab.learn.source_code.FIXES["rft"]``). What follows ``# --- added`` is not in the
article: it asks the trained network about several different questions and prints one JSON line — losses per fit
and epoch, predictions per question, whether they are all the same, seconds.

What it shows: this is a supervised fit of a 20 → 128 → 2 dense network on two one-hot class labels, not
reinforcement fine-tuning (no answers are sampled, no grader scores them, no policy update), and every question is
encoded as the same twenty 0.2s, so the network gives every question the same answer.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

keras.utils.set_random_seed(0)  # added: the same weights and the same numbers on every run

# 假设已有预训练模型
model = keras.Sequential(
    layers=[
        keras.Input(shape=(20,)),  # tf.js: inputShape: [20] on the first dense layer
        keras.layers.Dense(units=128, activation="relu"),
        keras.layers.Dense(units=2, activation="softmax"),
    ],
)
model.compile(optimizer="adam", loss="categorical_crossentropy")  # FIX 1: fit needs a compiled model
# 定义分类任务数据
task_data = [
    {"input": "湖南的省份是哪里?", "output": [1, 0]},  # 正确答案是分类 "地理"
    {"input": "三体是谁写的?", "output": [0, 1]},  # 正确答案是分类 "文学"
]


# 数据预处理
def preprocess_task_data(data, tokenizer):
    def one(item):
        encoded_input = tokenizer.encode(item["input"])  # 文本编码
        return {
            "xs": np.array([encoded_input], dtype="float32"),  # FIX 2: one row of 20, shape (1, 20), not flat
            "ys": np.array([item["output"]], dtype="float32"),
        }

    return list(map(one, data))  # data.map(...)


# the snippet's inline "tokenizer" ({ encode: text => Array(20).fill(0.2) }), named so the check below uses it too
simple_tokenizer = SimpleNamespace(encode=lambda text: [0.2] * 20)
losses = []  # added: the loss of every epoch, fit after fit (10 per fit)


# 强化微调
def rft_optimize(data):
    processed_data = preprocess_task_data(data, simple_tokenizer)  # 简化编码
    for item in processed_data:  # FIX 3: one fit after the other (tf.js: forEach started both fits at once)
        history = model.fit(item["xs"], item["ys"], epochs=10, verbose=0)  # verbose=0: no progress bar
        print("强化微调完成")  # console.log in .then(): once this fit is done
        losses.extend(float(x) for x in history.history["loss"])  # added


# --- added: not in the article -------------------------------------------------------------------------------
OTHER_QUESTIONS = ["红楼梦是谁写的?", "长江流经哪些省份?", "1 + 1 等于几?"]


def report(start: float) -> dict:
    """Losses, the trained network's answer to the snippet's questions and to others, whether they differ, and the
    seconds since ``start`` (training and predictions, not the import of keras)."""
    questions = [item["input"] for item in task_data] + OTHER_QUESTIONS
    predictions = {
        q: [float(p) for p in model.predict(np.array([simple_tokenizer.encode(q)], dtype="float32"), verbose=0)[0]]
        for q in questions
    }
    first = next(iter(predictions.values()))
    identical = all(max(abs(a - b) for a, b in zip(p, first, strict=True)) < 1e-6 for p in predictions.values())
    return {"losses": losses, "predictions": predictions, "identical_for_all_questions": identical,
            "seconds": round(time.perf_counter() - start, 3)}  # fmt: skip


if __name__ == "__main__":
    start = time.perf_counter()
    # 执行微调
    rft_optimize(task_data)
    print(json.dumps(report(start)))
