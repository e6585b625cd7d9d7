"""A Python agent talking to engram with stubs generated from proto/ by
grpcio-tools: the cross-language contract."""

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from engram.v1 import common_pb2, facts_pb2, facts_pb2_grpc, memory_pb2, memory_pb2_grpc

TENANT = "pyclinic"


@pytest.fixture(scope="module")
def channel(engram_addr):
    with grpc.insecure_channel(engram_addr) as ch:
        grpc.channel_ready_future(ch).result(timeout=10)
        health = health_pb2_grpc.HealthStub(ch)
        for _ in range(200):
            status = health.Check(health_pb2.HealthCheckRequest()).status
            if status == health_pb2.HealthCheckResponse.SERVING:
                break
            time.sleep(0.05)
        else:
            pytest.fail("engram never reported SERVING")
        yield ch


def test_reflection_lists_the_four_services(channel):
    services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    for name in ("MemoryService", "FactsService", "HandoverService", "ComplianceService"):
        assert f"engram.v1.{name}" in services


def test_append_put_facts_and_compose(channel):
    memory = memory_pb2_grpc.MemoryServiceStub(channel)
    facts = facts_pb2_grpc.FactsServiceStub(channel)

    request = memory_pb2.AppendMessagesRequest(
        tenant_id=TENANT,
        conversation_id="wa-5511",
        user_id="patient-42",
        messages=[
            memory_pb2.NewMessage(message_id="wamid.1", role=common_pb2.ROLE_USER,
                                  content="Olá, sou a Maria. Estou com dor de dente."),
            memory_pb2.NewMessage(message_id="wamid.2", role=common_pb2.ROLE_ASSISTANT,
                                  content="Sinto muito, Maria! Podemos marcar uma consulta.",
                                  metadata={"channel": "whatsapp"}),
        ],
    )
    first = memory.AppendMessages(request)
    assert [m.message.seq for m in first.messages] == [1, 2]
    assert first.messages[0].message.importance == pytest.approx(0.8)
    retry = memory.AppendMessages(request)
    assert all(m.deduplicated for m in retry.messages)

    put = facts.PutFacts(facts_pb2.PutFactsRequest(
        tenant_id=TENANT,
        user_id="patient-42",
        facts=[
            facts_pb2.FactInput(key="name", value_json='"Maria"'),
            facts_pb2.FactInput(key="preferred_time", value_json='{"period": "morning"}',
                                source=facts_pb2.FactSource(kind=facts_pb2.FACT_SOURCE_KIND_MESSAGE,
                                                            reference="wamid.1"),
                                confidence=0.9),
        ],
    ))
    assert [r.outcome for r in put.results] == [facts_pb2.PUT_OUTCOME_CREATED] * 2

    composed = memory.ComposeContext(memory_pb2.ComposeContextRequest(
        tenant_id=TENANT,
        conversation_id="wa-5511",
        user_id="patient-42",
        input="Tem horário amanhã de manhã?",
        token_budget=400,
        model="gpt-4o-mini",
    ))
    assert composed.tokens.composed_tokens <= 400
    assert composed.tokens.tokenizer == "o200k_base"
    assert composed.tokens.full_history_tokens > 0
    assert '- preferred_time: {"period":"morning"}' in composed.text
    assert "dor de dente" in composed.text
    assert composed.text.endswith("## Input\nTem horário amanhã de manhã?\n")
    assert [m.message.message_id for m in composed.context.recent] == ["wamid.1", "wamid.2"]
    assert {f.fact.key for f in composed.context.facts} == {"name", "preferred_time"}


def test_errors_are_precise(channel):
    memory = memory_pb2_grpc.MemoryServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        memory.AppendMessages(memory_pb2.AppendMessagesRequest(
            tenant_id="Not Valid", conversation_id="c", user_id="u",
            messages=[memory_pb2.NewMessage(role=common_pb2.ROLE_USER, content="x")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tenant_id" in err.value.details()
