"""engram beside what a user would pick instead, driven by one Python
process with the same workload (issue 22): append, then get the context
for the next turn, at 1 and 8 clients. `scripts/peers` starts what this
needs and calls it; see there.

The systems, each used the way its documentation shows:
- engram: AppendMessages (one message per request), ComposeContext
  (recall included) with `text_only`.
- LangChain `PostgresChatMessageHistory`: add_messages, get_messages (the
  whole history: the class has no "last N"), the last 20 kept.
- LangGraph `PostgresStore`: put one item per message under the user's
  namespace, search the namespace for the newest 20.
- mem0 with `infer=False` (no LLM; the message is embedded and stored as
  it is): add, then search with the input (local Qdrant, e5-small).

Each phase runs for SECONDS: appends to fresh conversations, contexts on
the conversations the append phases wrote, each with a new input.
"""

import argparse
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

TURNS = [
    "oi, queria marcar uma limpeza para a semana que vem",
    "pode ser de manhã? trabalho à tarde",
    "meu plano é o odonto plus, vocês aceitam?",
    "tenho sensibilidade no dente de trás quando tomo gelado",
    "a última limpeza foi há mais de um ano",
    "prefiro a dra. que me atendeu da outra vez",
    "quanto fica o clareamento sem o plano?",
    "posso pagar no pix?",
]
QUESTION = "qual horário ficou marcado e o que eu disse sobre o plano?"


class Engram:
    def __init__(self, name, addr, gen):
        sys.path.insert(0, gen)
        import grpc
        from engram.v1 import common_pb2, memory_pb2, memory_pb2_grpc

        self.name = name
        self.pb, self.common = memory_pb2, common_pb2
        self.stub = memory_pb2_grpc.MemoryServiceStub(grpc.insecure_channel(addr))

    def append(self, user, conversation, text):
        self.stub.AppendMessages(
            self.pb.AppendMessagesRequest(
                tenant_id="peers",
                conversation_id=conversation,
                user_id=user,
                messages=[self.pb.NewMessage(role=self.common.ROLE_USER, content=text)],
            )
        )

    def context(self, user, conversation, text):
        reply = self.stub.ComposeContext(
            self.pb.ComposeContextRequest(
                tenant_id="peers",
                conversation_id=conversation,
                user_id=user,
                input=text,
                token_budget=800,
                model="gpt-4o",
                text_only=True,
            )
        )
        return reply.text


class LangChainHistory:
    name = "LangChain PostgresChatMessageHistory"

    def __init__(self, url):
        import psycopg
        from langchain_postgres import PostgresChatMessageHistory

        self.url, self.cls, self.psycopg = url, PostgresChatMessageHistory, psycopg
        with psycopg.connect(url) as conn:
            PostgresChatMessageHistory.create_tables(conn, "chat_history")
        self.local = threading.local()

    def _history(self, conversation):
        if not hasattr(self.local, "conn"):
            self.local.conn = self.psycopg.connect(self.url)
        # Its session ids are UUIDs.
        session = str(uuid.uuid5(uuid.NAMESPACE_URL, conversation))
        return self.cls("chat_history", session, sync_connection=self.local.conn)

    def append(self, user, conversation, text):
        from langchain_core.messages import HumanMessage

        self._history(conversation).add_messages([HumanMessage(content=text)])

    def context(self, user, conversation, text):
        return self._history(conversation).get_messages()[-20:]


class LangGraphStore:
    name = "LangGraph PostgresStore"

    def __init__(self, url):
        from langgraph.store.postgres import PostgresStore

        self.cm = PostgresStore.from_conn_string(url, pool_config={"min_size": 8, "max_size": 8})
        self.store = self.cm.__enter__()
        self.store.setup()

    def append(self, user, conversation, text):
        self.store.put((user, conversation), str(uuid.uuid4()), {"role": "user", "content": text})

    def context(self, user, conversation, text):
        return self.store.search((user, conversation), limit=20)


class Mem0:
    name = "mem0 (infer=False, local Qdrant, e5-small)"

    def __init__(self, embed_url, path):
        from mem0 import Memory

        self.memory = Memory.from_config(
            {
                "vector_store": {
                    "provider": "qdrant",
                    "config": {"collection_name": "peers", "path": path, "embedding_model_dims": 384},
                },
                "embedder": {
                    "provider": "openai",
                    "config": {
                        "model": "multilingual-e5-small",
                        "openai_base_url": embed_url,
                        "api_key": "none",
                        "embedding_dims": 384,
                    },
                },
                "llm": {"provider": "openai", "config": {"api_key": "none", "openai_base_url": embed_url}},
                "history_db_path": f"{path}/history.db",
            }
        )

    def append(self, user, conversation, text):
        self.memory.add([{"role": "user", "content": text}], user_id=user, run_id=conversation, infer=False)

    def context(self, user, conversation, text):
        return self.memory.search(text, user_id=user, limit=20)


def timed_run(seconds, clients, call):
    """Calls `call(worker, n)` from `clients` threads for `seconds`; the
    latencies of every call, in ms."""
    stop = time.monotonic() + seconds
    latencies = [[] for _ in range(clients)]

    def worker(w):
        n = 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            call(w, n)
            latencies[w].append((time.perf_counter() - t) * 1000)
            n += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    return [x for xs in latencies for x in xs]


def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def measure(system, seconds, run_id):
    rows = []
    written = []
    for clients in (1, 8):
        convs = [(f"u-{run_id}-{clients}-{w}", f"c-{run_id}-{clients}-{w}") for w in range(clients)]

        def append(w, n, convs=convs):
            user, conv = convs[w]
            system.append(user, conv, TURNS[n % len(TURNS)])

        lat = timed_run(seconds, clients, append)
        rows.append(("append", clients, len(lat) / seconds, p(lat, 0.5), p(lat, 0.99)))
        written.extend(convs)
    for clients in (1, 8):

        def context(w, n):
            user, conv = written[(w + n) % len(written)]
            # A new input each turn, as a user types: no cache answers it.
            system.context(user, conv, f"{QUESTION} ({w}.{n})")

        lat = timed_run(seconds, clients, context)
        rows.append(("get-context", clients, len(lat) / seconds, p(lat, 0.5), p(lat, 0.99)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--engram", action="append", default=[], help="NAME=host:port")
    ap.add_argument("--postgres")
    ap.add_argument("--embed-url")
    ap.add_argument("--mem0-path")
    args = ap.parse_args()
    systems = [Engram(n, a, args.gen) for n, a in (e.split("=", 1) for e in args.engram)]
    if args.postgres:
        systems += [LangChainHistory(args.postgres), LangGraphStore(args.postgres)]
    if args.embed_url and args.mem0_path:
        systems.append(Mem0(args.embed_url, args.mem0_path))
    run_id = uuid.uuid4().hex[:8]
    print(f"| system | path | clients | per s | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for n, system in enumerate(systems):
        for path, clients, rate, p50, p99 in measure(system, args.seconds, f"{run_id}-{n}"):
            print(f"| {system.name} | {path} | {clients} | {rate:,.0f} | {p50:.2f} | {p99:.2f} |", flush=True)


if __name__ == "__main__":
    main()
