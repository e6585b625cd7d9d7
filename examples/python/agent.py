"""One agent loop against engram, in Python: append the user's message,
compose the context, answer, append the answer, keep what was learnt as a
fact.

Run it next to a sidecar (`cargo run -- serve` in another shell):

    python3 -m venv .venv && .venv/bin/pip install -r examples/python/requirements.txt
    .venv/bin/python -m grpc_tools.protoc -Iproto --python_out=examples/python/gen \
        --grpc_python_out=examples/python/gen proto/engram/v1/*.proto
    .venv/bin/python examples/python/agent.py        # ENGRAM_ADDR=host:port to point elsewhere

`answer()` stands in for your model: replace it with your LLM call. The
script checks what it relies on and exits non-zero when engram does not
do it (the test command runs it).

Pitfalls of the proto in Python:
- enums are ints: `pb.ROLE_USER`, never a string; 0 (`ROLE_UNSPECIFIED`)
  is refused with INVALID_ARGUMENT.
- `value_json` is JSON *inside a string*: `json.dumps("mornings")`, not
  `"mornings"`.
- a refused call raises `grpc.RpcError`: `e.code()` is the gRPC status,
  and the field at fault is in the status's `google.rpc.BadRequest` detail
  (`grpcio-status`), as well as in `e.details()`.
"""

import json
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "gen"))

import grpc  # noqa: E402
from engram.v1 import common_pb2 as common  # noqa: E402
from engram.v1 import facts_pb2 as facts  # noqa: E402
from engram.v1 import facts_pb2_grpc  # noqa: E402
from engram.v1 import memory_pb2 as memory  # noqa: E402
from engram.v1 import memory_pb2_grpc  # noqa: E402

TENANT = "demo-clinic"


def answer(prompt: str, user_text: str) -> str:
    """Stands in for the model: your LLM call goes here, with `prompt`."""
    if "terça" in user_text or "tuesday" in user_text.lower():
        return "Temos terça às 9h ou às 10h30. Qual prefere?"
    return "Claro! Que dia prefere para a limpeza?"


def turn(mem, user, conversation, text):
    """One turn: the call order engram expects."""
    # 1. Store the user's message first (its id makes a retry harmless).
    mem.AppendMessages(
        memory.AppendMessagesRequest(
            tenant_id=TENANT,
            conversation_id=conversation,
            user_id=user,
            messages=[
                memory.NewMessage(message_id=f"in-{uuid.uuid4()}", role=common.ROLE_USER, content=text)
            ],
        )
    )
    # 2. Compose with the same text as input: engram sees it is the newest
    #    message and does not put it in the prompt twice.
    ctx = mem.ComposeContext(
        memory.ComposeContextRequest(
            tenant_id=TENANT,
            conversation_id=conversation,
            user_id=user,
            input=text,
            token_budget=800,
            model="gpt-4o",
        )
    )
    # 3. Ask the model with the composed prompt.
    reply = answer(ctx.text, text)
    # 4. Store the answer.
    mem.AppendMessages(
        memory.AppendMessagesRequest(
            tenant_id=TENANT,
            conversation_id=conversation,
            user_id=user,
            messages=[memory.NewMessage(role=common.ROLE_ASSISTANT, content=reply)],
        )
    )
    return ctx, reply


def main():
    addr = os.environ.get("ENGRAM_ADDR", "127.0.0.1:50051").removeprefix("http://")
    channel = grpc.insecure_channel(addr)
    mem = memory_pb2_grpc.MemoryServiceStub(channel)
    fct = facts_pb2_grpc.FactsServiceStub(channel)
    user, conversation = f"u-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"

    ctx, reply = turn(mem, user, conversation, "Olá, quero marcar uma limpeza")
    print(f"agent: {reply}")

    # What the agent learnt is a fact: structured, current, with history.
    fct.PutFacts(
        facts.PutFactsRequest(
            tenant_id=TENANT,
            user_id=user,
            facts=[facts.FactInput(key="preferred_time", value_json=json.dumps("mornings"))],
        )
    )

    text = "Pode ser terça de manhã?"
    ctx, reply = turn(mem, user, conversation, text)
    print(f"agent: {reply}")
    print("--- the prompt of the second turn ---")
    print(ctx.text, end="")
    print(
        f"--- {ctx.tokens.composed_tokens} tokens composed; a prompt of the whole "
        f"history would take {ctx.tokens.full_history_tokens} ({ctx.tokens.tokenizer})"
    )

    # What the loop relies on.
    assert ctx.text.count(text) == 1, "the input is in the prompt once"
    assert 'preferred_time: "mornings"' in ctx.text, "the fact is in the prompt"
    assert "Olá, quero marcar uma limpeza" in ctx.text, "the first turn is recalled"
    assert [f.fact.key for f in ctx.context.facts] == ["preferred_time"]

    # A refusal names its field.
    try:
        mem.AppendMessages(
            memory.AppendMessagesRequest(
                tenant_id=TENANT,
                conversation_id=conversation,
                user_id=user,
                messages=[memory.NewMessage(content="no role")],
            )
        )
        raise AssertionError("a message without a role must be refused")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
        print(f"refused as expected: {e.details()}")


if __name__ == "__main__":
    main()
