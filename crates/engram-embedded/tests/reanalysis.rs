//! A store whose postings were built by an older analyser is indexed again
//! when it opens: a query analysed by this version meets its messages.

use std::time::Duration;

use engram_contract::fixtures::{at, conversation, message, tenant, user};
use engram_domain::model::{MessageFilter, Role, Scope};
use engram_domain::ports::MessageStore;
use engram_embedded::EmbeddedColdStore;
use redb::{Database, TableDefinition};

const POSTINGS: TableDefinition<(&str, &str, &str, &str, u64), u64> =
    TableDefinition::new("postings");
const TERM_STATS: TableDefinition<(&str, &str), (u64, u64)> = TableDefinition::new("term_stats");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Opens with `open` once the previous holder of the file (a store's
/// writer thread ends after its last handle) has let it go.
fn reopen<T, E: std::fmt::Debug>(open: impl Fn() -> Result<T, E>) -> T {
    let mut last = None;
    for _ in 0..500 {
        match open() {
            Ok(opened) => return opened,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the store file stays locked: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postings_of_an_older_analyser_are_built_again_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (t, u, c) = (tenant(), user("u1"), conversation("c1"));
    let store = EmbeddedColdStore::open(dir.path(), 8 << 20).unwrap();
    let said = "We adopted two dogs last spring";
    store
        .append(&t, &c, &u, vec![message(Role::User, said, 0)], at(0))
        .await
        .unwrap();
    drop(store);

    // What a store of analyser 1 looks like, here with no postings at all:
    // its marker, and postings this version would not meet.
    let path = dir.path().join("cold.redb");
    let db = reopen(|| Database::create(&path));
    let txn = db.begin_write().unwrap();
    txn.delete_table(POSTINGS).unwrap();
    txn.delete_table(TERM_STATS).unwrap();
    txn.open_table(POSTINGS).unwrap();
    txn.open_table(TERM_STATS).unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.remove("postings_analyser").unwrap();
        meta.insert("postings_v1", 1).unwrap();
    }
    txn.commit().unwrap();
    drop(db);

    let store = reopen(|| EmbeddedColdStore::open(dir.path(), 8 << 20));
    let hits = store
        .search_lexical(
            &t,
            &Scope::User(u.clone()),
            "did they adopt a dog?",
            &MessageFilter::default(),
            5,
        )
        .await
        .unwrap();
    let found: Vec<&str> = hits.iter().map(|h| h.message.content.as_str()).collect();
    assert_eq!(found, [said]);
}
