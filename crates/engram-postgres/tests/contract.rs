//! The Postgres cold store against the contract suite, on a private
//! database of the local Postgres per case.

use std::time::Duration;

use engram_domain::ports::MessageStore;
use engram_postgres::{PostgresColdStore, PostgresConfig};
use engram_testrig::PgDatabase;

async fn make_cold() -> (PostgresColdStore, PgDatabase) {
    let db = PgDatabase::create();
    let store = PostgresColdStore::new(&PostgresConfig {
        url: db.url.clone(),
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
    })
    .expect("valid config");
    (store, db)
}

engram_contract::cold_store_suite!(make_cold);

/// Beyond the contract: Postgres's Portuguese and English stemming finds
/// what engram's light plural stemming alone does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lexical_search_stems_portuguese_and_english() {
    use engram_contract::fixtures::{at, conversation, message, tenant, user};
    use engram_domain::model::{MessageFilter, Role, Scope};

    let (store, _db) = make_cold().await;
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    let messages = vec![
        message(Role::User, "Sou alérgica a dipirona", 0),
        message(Role::User, "I was fired in March without notice", 1),
        message(Role::User, "Qual o valor da consulta?", 2),
    ];
    store.append(&t, &c, &u, messages, at(2)).await.unwrap();
    let scope = Scope::User(u.clone());
    for (query, expected) in [
        ("alérgico", "Sou alérgica a dipirona"),
        ("firing", "I was fired in March without notice"),
    ] {
        let hits = store
            .search_lexical(&t, &scope, query, &MessageFilter::default(), 5)
            .await
            .unwrap();
        let contents: Vec<&str> = hits.iter().map(|h| h.message.content.as_str()).collect();
        assert_eq!(contents, [expected], "{query}");
    }
}

/// The longest tenant ids still get a schema each: `t_<tenant>` fits
/// Postgres's 63-byte identifiers, so no two tenants share one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_tenant_ids_keep_their_own_schema() {
    use engram_contract::fixtures::{at, conversation, message, user};
    use engram_domain::ids::TenantId;
    use engram_domain::model::Role;

    let (store, _db) = make_cold().await;
    let stem = "l".repeat(60);
    let a = TenantId::parse("tenant_id", &format!("{stem}a")).unwrap();
    let b = TenantId::parse("tenant_id", &format!("{stem}b")).unwrap();
    let (c, u) = (conversation("c1"), user("u1"));
    store
        .append(&a, &c, &u, vec![message(Role::User, "só de a", 0)], at(0))
        .await
        .unwrap();
    assert!(store.conversation(&b, &c).await.unwrap().is_none());
    assert!(TenantId::parse("tenant_id", &format!("{stem}ab")).is_err());
}

/// Terms computed by an older analyser are computed again when a sidecar
/// with a newer one migrates the tenant's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_of_an_older_analyser_are_computed_again() {
    use engram_contract::fixtures::{at, conversation, message, tenant, user};
    use engram_domain::model::Role;

    use engram_text::{ANALYSER_VERSION, terms};

    let (store, db) = make_cold().await;
    let (t, c, u) = (tenant(), conversation("c1"), user("u1"));
    let said = "We adopted two dogs last spring";
    store
        .append(&t, &c, &u, vec![message(Role::User, said, 0)], at(0))
        .await
        .unwrap();
    drop(store);

    // Make the schema look as analyser 1 left it.
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let schema = format!("\"t_{}\"", t.as_str());
    client
        .batch_execute(&format!(
            "UPDATE {schema}.messages SET terms = 'adopted dogs last spring'; \
             UPDATE {schema}.analyser SET version = 1"
        ))
        .await
        .unwrap();

    let store = engram_postgres::PostgresColdStore::new(&PostgresConfig {
        url: db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
    })
    .unwrap();
    // Any call migrates the tenant's schema first.
    store.conversation(&t, &c).await.unwrap();
    let row = client
        .query_one(
            &format!("SELECT m.terms, a.version FROM {schema}.messages m, {schema}.analyser a"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), terms(said).join(" "));
    assert_eq!(row.get::<_, i32>(1), ANALYSER_VERSION as i32);
}

/// Beyond the contract: appends committed together (group commit) where
/// one holds a value Postgres cannot store (a NUL character): that one is
/// refused as the request's fault, the others land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgres_refuses_fails_only_its_own_append() {
    use engram_contract::fixtures::{at, conversation, message, tenant, user};
    use engram_domain::Error;
    use engram_domain::model::Role;

    let (store, _db) = make_cold().await;
    let (t, u) = (tenant(), user("u1"));
    let conversations: Vec<_> = (0..12).map(|i| conversation(&format!("c{i}"))).collect();
    // The schema first, so that the appends below meet in the queue.
    store
        .append(
            &t,
            &conversations[0],
            &u,
            vec![message(Role::User, "oi", 0)],
            at(0),
        )
        .await
        .unwrap();
    let outcomes = futures::future::join_all(conversations.iter().enumerate().map(|(i, c)| {
        let text = if i == 7 { "nul \0 aqui" } else { "tudo certo" };
        store.append(&t, c, &u, vec![message(Role::User, text, 1)], at(1))
    }))
    .await;
    for (i, outcome) in outcomes.iter().enumerate() {
        match (i, outcome) {
            (7, Err(Error::InvalidArgument { .. })) => {}
            (7, other) => panic!("the NUL append: {other:?}"),
            (_, Ok(_)) => {}
            (_, Err(error)) => panic!("append {i}: {error:?}"),
        }
    }
    assert!(
        store
            .conversation(&t, &conversations[7])
            .await
            .unwrap()
            .is_none()
    );
    let first = store
        .conversation(&t, &conversations[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.message_count, 2);
}

/// Beyond the contract: `append_messages`, which sidecars of the previous
/// version call during a rolling upgrade, keeps its rules and its errors
/// now that it is one append of `append_batch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_versions_append_function_keeps_its_rules() {
    use engram_contract::fixtures::{at, conversation, message, tenant, user};
    use engram_domain::model::Role;

    let (store, db) = make_cold().await;
    let (t, c) = (tenant(), conversation("c1"));
    let first = vec![message(Role::User, "oi", 0)];
    store
        .append(&t, &c, &user("u1"), first, at(0))
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let call = format!(
        "SELECT o_idx, o_seq, o_dedup FROM \"t_{}\".append_messages($1, $2, 5, \
         ARRAY['m-9', 'm-9b'], ARRAY[true, true], ARRAY['user', 'user'], \
         ARRAY['um', 'dois'], ARRAY[5, 5]::bigint[], ARRAY['{{}}', '{{}}']::jsonb[], \
         ARRAY[0.5, 0.5]::real[], ARRAY[3, 3], ARRAY['um', 'dois'])",
        t.as_str()
    );
    let rows = client.query(&call, &[&c.as_str(), &"u1"]).await.unwrap();
    let got: Vec<(i32, Option<i64>, Option<bool>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            (0, Some(2), Some(false)),
            (1, Some(3), Some(false)),
            (-1, None, None)
        ]
    );
    // A retry is deduplicated; another user is refused with EN001.
    let rows = client.query(&call, &[&c.as_str(), &"u1"]).await.unwrap();
    let deduplicated: Vec<Option<bool>> = rows.iter().map(|r| r.get(2)).collect();
    assert_eq!(deduplicated, [Some(true), Some(true), None]);
    let refused = client
        .query(&call, &[&c.as_str(), &"u2"])
        .await
        .unwrap_err();
    assert_eq!(refused.code().map(|c| c.code()), Some("EN001"));
    assert_eq!(
        store
            .conversation(&t, &c)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        3
    );
}
