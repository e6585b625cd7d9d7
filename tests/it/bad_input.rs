//! Bad input gets a precise status naming the field, writes nothing, and
//! never takes the server down.
//! Long: one test per request field and kind of bad value.

use crate::common::Sidecar;
use engram::pb;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;

fn msg(id: &str, role: pb::Role, content: &str) -> pb::NewMessage {
    pb::NewMessage {
        message_id: id.into(),
        role: role as i32,
        content: content.into(),
        ..Default::default()
    }
}

fn append(messages: Vec<pb::NewMessage>) -> pb::AppendMessagesRequest {
    pb::AppendMessagesRequest {
        tenant_id: "acme".into(),
        conversation_id: "c1".into(),
        user_id: "u1".into(),
        messages,
    }
}

fn expect(result: Result<impl std::fmt::Debug, tonic::Status>, code: Code, names: &str) {
    use tonic_types::StatusExt;
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(names),
        "{:?} should name {names:?}",
        status.message()
    );
    // A field's refusal carries the field as data too (google.rpc.BadRequest).
    if matches!(code, Code::InvalidArgument | Code::ResourceExhausted)
        && let Some(bad) = status.get_details_bad_request()
    {
        let field = &bad.field_violations[0].field;
        assert!(status.message().starts_with(field.as_str()), "{status:?}");
    } else if code == Code::InvalidArgument {
        panic!("{status:?} has no BadRequest detail");
    }
}

#[tokio::test]
async fn bad_appends_are_refused_precisely_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();
    memory
        .append_messages(append(vec![msg("m1", pb::Role::User, "oi")]))
        .await
        .unwrap();

    let cases: Vec<(pb::AppendMessagesRequest, Code, &str)> = vec![
        (
            pb::AppendMessagesRequest {
                tenant_id: "Acme Corp".into(),
                ..append(vec![msg("", pb::Role::User, "x")])
            },
            Code::InvalidArgument,
            "tenant_id",
        ),
        (
            pb::AppendMessagesRequest {
                tenant_id: "acme; DROP SCHEMA".into(),
                ..append(vec![msg("", pb::Role::User, "x")])
            },
            Code::InvalidArgument,
            "tenant_id",
        ),
        (
            pb::AppendMessagesRequest {
                tenant_id: String::new(),
                ..append(vec![msg("", pb::Role::User, "x")])
            },
            Code::InvalidArgument,
            "tenant_id",
        ),
        (
            pb::AppendMessagesRequest {
                conversation_id: String::new(),
                ..append(vec![msg("", pb::Role::User, "x")])
            },
            Code::InvalidArgument,
            "conversation_id",
        ),
        (
            pb::AppendMessagesRequest {
                user_id: "has space".into(),
                ..append(vec![msg("", pb::Role::User, "x")])
            },
            Code::InvalidArgument,
            "user_id",
        ),
        (append(vec![]), Code::InvalidArgument, "messages"),
        (
            append(vec![msg("", pb::Role::Unspecified, "x")]),
            Code::InvalidArgument,
            "messages[0].role is invalid: ROLE_UNSPECIFIED (0) is not a role: use ROLE_USER",
        ),
        (
            append(vec![pb::NewMessage {
                role: 42,
                ..msg("", pb::Role::User, "x")
            }]),
            Code::InvalidArgument,
            "messages[0].role",
        ),
        (
            append(vec![
                msg("", pb::Role::User, "ok"),
                msg("", pb::Role::User, "   "),
            ]),
            Code::InvalidArgument,
            "messages[1].content",
        ),
        (
            append(vec![msg("", pb::Role::User, &"a".repeat(32 * 1024 + 1))]),
            Code::ResourceExhausted,
            "messages[0].content",
        ),
        (
            append((0..101).map(|_| msg("", pb::Role::User, "x")).collect()),
            Code::ResourceExhausted,
            "messages",
        ),
        (
            append(vec![msg("bad id!", pb::Role::User, "x")]),
            Code::InvalidArgument,
            "messages[0].message_id",
        ),
        (
            append(vec![
                msg("dup", pb::Role::User, "x"),
                msg("dup", pb::Role::User, "x"),
            ]),
            Code::InvalidArgument,
            "messages[1].message_id",
        ),
        (
            append(vec![pb::NewMessage {
                created_at: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..msg("", pb::Role::User, "x")
            }]),
            Code::InvalidArgument,
            "messages[0].created_at",
        ),
        (
            append(vec![pb::NewMessage {
                metadata: (0..33).map(|i| (i.to_string(), "v".into())).collect(),
                ..msg("", pb::Role::User, "x")
            }]),
            Code::ResourceExhausted,
            "messages[0].metadata",
        ),
        (
            append(vec![pb::NewMessage {
                metadata: [("k".into(), "v".repeat(1025))].into(),
                ..msg("", pb::Role::User, "x")
            }]),
            Code::ResourceExhausted,
            "messages[0].metadata",
        ),
        (
            pb::AppendMessagesRequest {
                user_id: "u2".into(),
                ..append(vec![msg("", pb::Role::User, "x")])
            },
            Code::FailedPrecondition,
            "conversation \"c1\" belongs to another user",
        ),
        (
            append(vec![
                msg("new", pb::Role::User, "x"),
                msg("m1", pb::Role::User, "changed"),
            ]),
            Code::AlreadyExists,
            "messages[1].message_id",
        ),
    ];
    for (request, code, names) in cases {
        expect(memory.append_messages(request).await, code, names);
    }
    let all = memory
        .get_conversation(pb::GetConversationRequest {
            tenant_id: "acme".into(),
            conversation_id: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.messages.len(), 1, "no refused request wrote anything");
    assert_health(&sidecar).await;
}

#[tokio::test]
async fn bad_reads_and_facts_are_refused_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let (mut memory, mut facts) = (sidecar.memory(), sidecar.facts());
    memory
        .append_messages(append(vec![msg("m1", pb::Role::User, "oi")]))
        .await
        .unwrap();

    let page = |size: u32, token: &str| pb::GetConversationRequest {
        tenant_id: "acme".into(),
        conversation_id: "c1".into(),
        page_size: size,
        page_token: token.into(),
    };
    expect(
        memory.get_conversation(page(5000, "")).await,
        Code::InvalidArgument,
        "page_size",
    );
    expect(
        memory.get_conversation(page(10, "garbage")).await,
        Code::InvalidArgument,
        "page_token",
    );
    expect(
        memory.get_conversation(page(10, "c|1|c1")).await,
        Code::InvalidArgument,
        "page_token",
    );
    expect(
        memory
            .get_conversation(pb::GetConversationRequest {
                conversation_id: "nope".into(),
                ..page(10, "")
            })
            .await,
        Code::NotFound,
        "conversation",
    );
    expect(
        memory
            .get_recent(pb::GetRecentRequest {
                tenant_id: "acme".into(),
                conversation_id: "c1".into(),
                limit: 1001,
            })
            .await,
        Code::InvalidArgument,
        "limit",
    );
    expect(
        memory
            .list_conversations(pb::ListConversationsRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                page_size: 1,
                page_token: "m|9".into(),
            })
            .await,
        Code::InvalidArgument,
        "page_token",
    );
    expect(
        memory
            .delete_conversation(pb::DeleteConversationRequest {
                tenant_id: "acme".into(),
                conversation_id: "nope".into(),
            })
            .await,
        Code::NotFound,
        "conversation",
    );

    let search = |q: &str| pb::SearchRequest {
        tenant_id: "acme".into(),
        user_id: "u1".into(),
        query: q.into(),
        ..Default::default()
    };
    expect(
        memory
            .search(pb::SearchRequest {
                user_id: String::new(),
                ..search("x")
            })
            .await,
        Code::InvalidArgument,
        "user_id",
    );
    expect(
        memory.search(search("")).await,
        Code::InvalidArgument,
        "query",
    );
    expect(
        memory.search(search(&"q".repeat(5000))).await,
        Code::ResourceExhausted,
        "query",
    );
    expect(
        memory
            .search(pb::SearchRequest {
                mode: 9,
                ..search("x")
            })
            .await,
        Code::InvalidArgument,
        "mode",
    );
    expect(
        memory
            .search(pb::SearchRequest {
                limit: 101,
                ..search("x")
            })
            .await,
        Code::InvalidArgument,
        "limit",
    );
    expect(
        memory
            .search(pb::SearchRequest {
                query_vector: vec![0.5; 3],
                mode: pb::SearchMode::Semantic as i32,
                ..search("x")
            })
            .await,
        Code::InvalidArgument,
        "query_vector",
    );
    expect(
        memory
            .search(pb::SearchRequest {
                query_vector: vec![f32::NAN; 256],
                ..search("x")
            })
            .await,
        Code::InvalidArgument,
        "query_vector",
    );
    expect(
        memory
            .search(pb::SearchRequest {
                roles: vec![0],
                ..search("x")
            })
            .await,
        Code::InvalidArgument,
        "roles[0]",
    );
    expect(
        memory
            .search(pb::SearchRequest {
                conversation_id: "c1".into(),
                user_id: "u2".into(),
                ..search("x")
            })
            .await,
        Code::FailedPrecondition,
        "conversation \"c1\" belongs to another user",
    );

    let compose = |budget: u32, input: &str| pb::ComposeContextRequest {
        tenant_id: "acme".into(),
        conversation_id: "c1".into(),
        user_id: "u1".into(),
        input: input.into(),
        token_budget: budget,
        ..Default::default()
    };
    expect(
        memory
            .compose_context(compose(5, "uma pergunta longa demais para cinco tokens"))
            .await,
        Code::InvalidArgument,
        "token_budget",
    );
    expect(
        memory.compose_context(compose(2_000_000, "x")).await,
        Code::InvalidArgument,
        "token_budget",
    );
    expect(
        memory
            .compose_context(compose(100, &"x".repeat(40_000)))
            .await,
        Code::ResourceExhausted,
        "input",
    );
    expect(
        memory
            .compose_context(pb::ComposeContextRequest {
                user_id: String::new(),
                ..compose(100, "x")
            })
            .await,
        Code::InvalidArgument,
        "user_id",
    );
    // Another user's conversation: refused as an append and a search are.
    expect(
        memory
            .compose_context(pb::ComposeContextRequest {
                user_id: "u2".into(),
                ..compose(100, "x")
            })
            .await,
        Code::FailedPrecondition,
        "conversation \"c1\" belongs to another user",
    );

    let put = |f: pb::FactInput| pb::PutFactsRequest {
        tenant_id: "acme".into(),
        user_id: "u1".into(),
        facts: vec![f],
    };
    let f = |key: &str, json: &str| pb::FactInput {
        key: key.into(),
        value_json: json.into(),
        ..Default::default()
    };
    expect(
        facts.put_facts(put(f("name", "not json"))).await,
        Code::InvalidArgument,
        "facts[0].value_json",
    );
    expect(
        facts.put_facts(put(f("bad key", r#""x""#))).await,
        Code::InvalidArgument,
        "facts[0].key",
    );
    expect(
        facts
            .put_facts(put(f("name", &format!("\"{}\"", "x".repeat(17 * 1024)))))
            .await,
        Code::ResourceExhausted,
        "facts[0].value_json",
    );
    expect(
        facts
            .put_facts(put(pb::FactInput {
                confidence: 1.5,
                ..f("name", "1")
            }))
            .await,
        Code::InvalidArgument,
        "facts[0].confidence",
    );
    expect(
        facts
            .put_facts(put(pb::FactInput {
                source: Some(pb::FactSource {
                    kind: 99,
                    reference: String::new(),
                }),
                ..f("name", "1")
            }))
            .await,
        Code::InvalidArgument,
        "facts[0].source.kind",
    );
    expect(
        facts
            .put_facts(pb::PutFactsRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                facts: vec![],
            })
            .await,
        Code::InvalidArgument,
        "facts",
    );
    expect(
        facts
            .put_facts(pb::PutFactsRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                facts: vec![f("a", "1"); 101],
            })
            .await,
        Code::ResourceExhausted,
        "facts",
    );
    expect(
        facts
            .get_facts(pb::GetFactsRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                keys: vec!["ok".into(), "not ok".into()],
                as_of: None,
            })
            .await,
        Code::InvalidArgument,
        "keys[1]",
    );
    expect(
        facts
            .get_fact_history(pb::GetFactHistoryRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                key: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "key",
    );
    let invalidate = |key: &str| pb::InvalidateFactRequest {
        tenant_id: "acme".into(),
        user_id: "u1".into(),
        key: key.into(),
        invalid_at: None,
    };
    expect(
        facts.invalidate_fact(invalidate("never_set")).await,
        Code::NotFound,
        "current fact",
    );
    facts.put_facts(put(f("name", r#""Ana""#))).await.unwrap();
    let before = pb::InvalidateFactRequest {
        invalid_at: Some(prost_types::Timestamp {
            seconds: 1,
            nanos: 0,
        }),
        ..invalidate("name")
    };
    expect(
        facts.invalidate_fact(before).await,
        Code::InvalidArgument,
        "invalid_at",
    );
    assert_eq!(
        facts
            .get_facts(pb::GetFactsRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .facts
            .len(),
        1
    );

    expect(
        facts
            .extract_facts(pb::ExtractFactsRequest::default())
            .await,
        Code::InvalidArgument,
        "tenant_id",
    );
    expect(
        facts
            .extract_facts(pb::ExtractFactsRequest {
                tenant_id: "acme".into(),
                conversation_id: "no-such-conversation".into(),
                dry_run: true,
            })
            .await,
        Code::NotFound,
        "conversation",
    );
    expect(
        memory.summarize(pb::SummarizeRequest::default()).await,
        Code::InvalidArgument,
        "tenant_id",
    );
    expect(
        sidecar
            .handover()
            .get_handover(pb::GetHandoverRequest::default())
            .await,
        Code::InvalidArgument,
        "tenant_id",
    );
    assert_health(&sidecar).await;
}

async fn assert_health(sidecar: &Sidecar) {
    let status = sidecar
        .health()
        .check(HealthCheckRequest {
            service: "engram.v1.MemoryService".into(),
        })
        .await
        .unwrap();
    assert_eq!(status.into_inner().status(), ServingStatus::Serving);
}

/// Calls `path` with `body` as the request's protobuf bytes, whatever they
/// are: what a buggy or hostile client can send.
async fn raw_call(sidecar: &Sidecar, path: &'static str, body: Vec<u8>) -> tonic::Status {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Default)]
    struct Raw;
    struct RawCoder;
    impl Encoder for RawCoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
            bytes::BufMut::put_slice(dst, &item);
            Ok(())
        }
    }
    impl Decoder for RawCoder {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
            let n = bytes::Buf::remaining(src);
            Ok(Some(bytes::Buf::copy_to_bytes(src, n).to_vec()))
        }
    }
    impl Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawCoder;
        type Decoder = RawCoder;
        fn encoder(&mut self) -> RawCoder {
            RawCoder
        }
        fn decoder(&mut self) -> RawCoder {
            RawCoder
        }
    }

    let mut grpc = tonic::client::Grpc::new(sidecar.channel());
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        tonic::codegen::http::uri::PathAndQuery::from_static(path),
        Raw,
    )
    .await
    .expect_err("an undecodable request is refused")
}

#[tokio::test]
async fn a_request_that_does_not_decode_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let cases: [(&'static str, Vec<u8>); 4] = [
        // tenant_id (field 1, length-delimited) whose length is a bad varint.
        (
            "/engram.v1.MemoryService/AppendMessages",
            vec![
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ),
        // tenant_id that is not UTF-8.
        (
            "/engram.v1.MemoryService/GetRecent",
            vec![0x0a, 0x02, 0xff, 0xfe],
        ),
        // A field cut short.
        ("/engram.v1.FactsService/GetFacts", vec![0x0a, 0x05, b'a']),
        // A wire type that does not exist.
        ("/engram.v1.ComplianceService/Classify", vec![0x0f]),
    ];
    for (path, body) in cases {
        let status = raw_call(&sidecar, path, body).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(status.message().contains("does not decode"), "{status:?}");
    }
    assert_health(&sidecar).await;
}

#[tokio::test]
async fn a_huge_rejected_id_is_quoted_by_a_short_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let status = sidecar
        .memory()
        .get_recent(pb::GetRecentRequest {
            tenant_id: "X".repeat(16_500),
            conversation_id: "c1".into(),
            limit: 1,
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("tenant_id"), "{status:?}");
    assert!(status.message().len() < 200, "{}", status.message().len());
}

fn drop_ok<T>(reply: Result<tonic::Response<T>, tonic::Status>) -> Result<(), tonic::Status> {
    reply.map(drop)
}

/// Every free-text field a client can send with a NUL (U+0000) in it.
async fn nul_cases(sidecar: &Sidecar) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    use crate::common::admin;
    const NUL: &str = "a\u{0}b";
    let (mut memory, mut facts, mut handover, mut compliance) = (
        sidecar.memory(),
        sidecar.facts(),
        sidecar.handover(),
        sidecar.compliance(),
    );
    let with_metadata = |key: &str, value: &str| {
        let mut m = msg("", pb::Role::User, "oi");
        m.metadata.insert(key.into(), value.into());
        append(vec![m])
    };
    memory
        .append_messages(append(vec![msg("m1", pb::Role::User, "oi")]))
        .await
        .unwrap();
    let started = handover
        .start_handover(pb::StartHandoverRequest {
            tenant_id: "acme".into(),
            conversation_id: "c1".into(),
            operator_id: "ana".into(),
            reason: "ok".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .handover
        .unwrap();
    let h = started.handover_id;
    vec![
        (
            "messages[0].content",
            drop_ok(
                memory
                    .append_messages(append(vec![msg("", pb::Role::User, NUL)]))
                    .await,
            ),
        ),
        (
            "metadata key",
            drop_ok(memory.append_messages(with_metadata(NUL, "v")).await),
        ),
        (
            "metadata",
            drop_ok(memory.append_messages(with_metadata("k", NUL)).await),
        ),
        (
            "source.reference",
            drop_ok(
                facts
                    .put_facts(pb::PutFactsRequest {
                        tenant_id: "acme".into(),
                        user_id: "u1".into(),
                        facts: vec![pb::FactInput {
                            key: "name".into(),
                            value_json: r#""Ana""#.into(),
                            source: Some(pb::FactSource {
                                kind: pb::FactSourceKind::Message as i32,
                                reference: NUL.into(),
                            }),
                            ..Default::default()
                        }],
                    })
                    .await,
            ),
        ),
        (
            "query",
            drop_ok(
                memory
                    .search(pb::SearchRequest {
                        tenant_id: "acme".into(),
                        user_id: "u1".into(),
                        query: NUL.into(),
                        ..Default::default()
                    })
                    .await,
            ),
        ),
        (
            "action.description",
            drop_ok(
                handover
                    .record_operator_event(pb::RecordOperatorEventRequest {
                        tenant_id: "acme".into(),
                        conversation_id: "c1".into(),
                        handover_id: h.clone(),
                        action: Some(pb::HumanAction {
                            kind: "note".into(),
                            description: NUL.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await,
            ),
        ),
        (
            "notes",
            drop_ok(
                handover
                    .end_handover(pb::EndHandoverRequest {
                        tenant_id: "acme".into(),
                        conversation_id: "c1".into(),
                        handover_id: h.clone(),
                        resolution_status: pb::ResolutionStatus::Resolved as i32,
                        notes: NUL.into(),
                    })
                    .await,
            ),
        ),
        (
            "reason",
            drop_ok(
                handover
                    .start_handover(pb::StartHandoverRequest {
                        tenant_id: "acme".into(),
                        conversation_id: "c2".into(),
                        operator_id: "ana".into(),
                        reason: NUL.into(),
                    })
                    .await,
            ),
        ),
        (
            "reason",
            drop_ok(
                compliance
                    .anonymize(pb::AnonymizeRequest {
                        tenant_id: "acme".into(),
                        content: "meu cpf".into(),
                        reason: NUL.into(),
                    })
                    .await,
            ),
        ),
        (
            "reason",
            drop_ok(
                compliance
                    .set_legal_hold(admin(pb::SetLegalHoldRequest {
                        tenant_id: "acme".into(),
                        user_id: "u1".into(),
                        hold: true,
                        reason: NUL.into(),
                    }))
                    .await,
            ),
        ),
        (
            "reason",
            drop_ok(
                compliance
                    .export_subject_data(admin(pb::ExportSubjectDataRequest {
                        tenant_id: "acme".into(),
                        user_id: "u1".into(),
                        reason: NUL.into(),
                    }))
                    .await,
            ),
        ),
    ]
}

#[tokio::test]
async fn a_nul_character_is_refused_alike_on_every_backend() {
    let db = engram_testrig::PgDatabase::create();
    let (dir_e, dir_p) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let embedded = Sidecar::start(dir_e.path()).await;
    let postgres =
        Sidecar::start_with(dir_p.path(), &["--postgres-url".into(), db.url.clone()]).await;
    for (backend, sidecar) in [("embedded", &embedded), ("postgres", &postgres)] {
        for (field, result) in nul_cases(sidecar).await {
            let status = result.expect_err(field);
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{backend} {field}: {status:?}"
            );
            assert!(
                status.message().contains(field) && status.message().contains("NUL"),
                "{backend}: {:?} should name {field:?}",
                status.message()
            );
        }
        let stored = sidecar
            .memory()
            .get_recent(pb::GetRecentRequest {
                tenant_id: "acme".into(),
                conversation_id: "c1".into(),
                limit: 50,
            })
            .await
            .unwrap()
            .into_inner()
            .messages;
        assert_eq!(
            stored.len(),
            1,
            "{backend}: nothing written but the first message"
        );
        // A NUL escaped inside a JSON fact value is no NUL in the text:
        // stored faithfully by both.
        let escaped = r#""a\u0000b""#;
        sidecar
            .facts()
            .put_facts(pb::PutFactsRequest {
                tenant_id: "acme".into(),
                user_id: "u1".into(),
                facts: vec![pb::FactInput {
                    key: "note".into(),
                    value_json: escaped.into(),
                    ..Default::default()
                }],
            })
            .await
            .unwrap_or_else(|s| panic!("{backend}: {s:?}"));
        let facts = crate::common::current_facts(sidecar, "acme", "u1").await;
        assert_eq!(facts[0].value_json, escaped, "{backend}");
        assert_health(sidecar).await;
    }
}

/// A message of `content` bytes with `entries` metadata entries of the
/// largest key and value.
fn big_msg(id: String, content: usize, entries: usize) -> pb::NewMessage {
    let mut m = msg(&id, pb::Role::User, &"a".repeat(content));
    for e in 0..entries {
        m.metadata.insert(format!("{e:0>64}"), "v".repeat(1024));
    }
    m
}

#[tokio::test]
async fn documented_limits_fit_the_transport_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = Sidecar::start(dir.path()).await;
    let mut memory = sidecar.memory();

    // Every message within its own limits, 6.8 MB in all: refused by the
    // request's total, naming it, not by the transport.
    let over: Vec<_> = (0..100)
        .map(|i| big_msg(format!("o{i}"), 32 * 1024, 32))
        .collect();
    expect(
        memory.append_messages(append(over)).await,
        Code::ResourceExhausted,
        "messages is too large",
    );
    // Just under the total: stored, and its reply (which returns every
    // message) reaches a client with gRPC's default 4 MiB limit.
    let under: Vec<_> = (0..100)
        .map(|i| big_msg(format!("u{i}"), 20_000, 10))
        .collect();
    let stored = memory
        .append_messages(append(under))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.messages.len(), 100);

    // 200 messages of 32 KiB: 6.6 MB, more than one reply can carry.
    for batch in 0..3 {
        let messages = (0..34)
            .map(|i| big_msg(format!("b{batch}-{i}"), 32 * 1024, 0))
            .collect();
        memory.append_messages(append(messages)).await.unwrap();
    }
    let total = 100 + 3 * 34;
    let recent = memory
        .get_recent(pb::GetRecentRequest {
            tenant_id: "acme".into(),
            conversation_id: "c1".into(),
            limit: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(recent.truncated, "{} messages", recent.messages.len());
    assert_eq!(
        recent.messages.last().unwrap().seq,
        total,
        "the newest kept"
    );
    let seqs: Vec<u64> = recent.messages.iter().map(|m| m.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "oldest first, no gap"
    );

    // GetConversation pages by bytes too, and its token continues.
    let (mut seen, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let page = memory
            .get_conversation(pb::GetConversationRequest {
                tenant_id: "acme".into(),
                conversation_id: "c1".into(),
                page_size: 1000,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.messages.iter().map(|m| m.seq));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert!(pages > 1, "one page of {} messages", seen.len());
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert_health(&sidecar).await;
}
