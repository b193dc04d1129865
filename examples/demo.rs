//! The main job, end to end, on a real LDK `FilesystemStore` in a temporary directory:
//! create an encrypted store, persist a `NetworkGraph` and a `ProbabilisticScorer` under LDK's
//! own namespaces and keys, reopen it from disk with the passphrase and read them back, show
//! that the files on disk are ciphertext, and that a wrong passphrase and a tampered file are
//! refused. Then what sets the store apart: with a freshness anchor kept in another directory,
//! an older copy of a channel monitor put back while the node is down is refused at the next
//! start, and so is a removed payment put back. Exits non-zero if any of that does not hold.
//!
//! Run: `cargo run --example demo`

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use encrypted_kvstore::{
    Credential, EncryptedStore, OpenError, OpenOptions, ReadError, StoreAnchor,
};
use lightning::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning::bitcoin::Network;
use lightning::routing::gossip::{NetworkGraph, NodeId};
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringDecayParameters};
use lightning::types::features::ChannelFeatures;
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    SCORER_PERSISTENCE_KEY, SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning_persister::fs_store::FilesystemStore;

struct Quiet;
impl Logger for Quiet {
    fn log(&self, _record: Record) {}
}

const PASSPHRASE: &[u8] = b"demo passphrase: use a long random one";

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        println!("  ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}").into())
    }
}

fn node(i: u32) -> Result<NodeId, Box<dyn Error>> {
    let mut sk = [0u8; 32];
    sk[28..].copy_from_slice(&(i + 1).to_be_bytes());
    let pk = PublicKey::from_secret_key(&Secp256k1::signing_only(), &SecretKey::from_slice(&sk)?);
    Ok(NodeId::from_pubkey(&pk))
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let logger = &Quiet;
    println!("encrypted store in {}", dir.path().display());

    // 1. Create the store: one header write (Argon2id with the default costs).
    let t = Instant::now();
    let store = EncryptedStore::create(
        FilesystemStore::new(dir.path().to_path_buf()),
        Credential::passphrase(PASSPHRASE),
    )?;
    println!(
        "created in {:?} ({:?})",
        t.elapsed(),
        store.info().protection
    );

    // 2. A network graph with 300 channels among 100 nodes, and a scorer over it.
    let graph = NetworkGraph::new(Network::Bitcoin, logger);
    for scid in 0..300u64 {
        let a = node((scid % 100) as u32)?;
        let b = node(((scid * 7 + 1) % 100) as u32)?;
        if a != b {
            graph
                .add_channel_from_partial_announcement(
                    scid + 1,
                    Some(1_000_000),
                    1_700_000_000,
                    ChannelFeatures::empty(),
                    a,
                    b,
                )
                .map_err(|e| e.err)?;
        }
    }
    let scorer = ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        &graph,
        logger,
    );
    let graph_bytes = graph.encode();
    let scorer_bytes = scorer.encode();
    store.write(
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_KEY,
        graph_bytes.clone(),
    )?;
    store.write(
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        SCORER_PERSISTENCE_KEY,
        scorer_bytes.clone(),
    )?;
    println!(
        "persisted network_graph ({} bytes, {} channels) and scorer ({} bytes)",
        graph_bytes.len(),
        graph.read_only().channels().len(),
        scorer_bytes.len()
    );
    drop(store);

    // 3. What is on disk is ciphertext.
    println!("on disk:");
    let graph_file = dir.path().join(NETWORK_GRAPH_PERSISTENCE_KEY);
    let on_disk = std::fs::read(&graph_file)?;
    let a_node_id = node(0)?;
    check(
        !contains(&on_disk, a_node_id.as_slice()),
        "network_graph file holds no node id in the clear",
    )?;
    check(
        !contains(&on_disk, graph_bytes.get(..64).ok_or("graph too small")?),
        "network_graph file holds none of the serialized graph",
    )?;
    check(
        on_disk.len() == graph_bytes.len() + encrypted_kvstore::RECORD_OVERHEAD,
        "network_graph file is the value plus 53 bytes (format, key id, record version, nonce, \
         tag)",
    )?;
    list_files(dir.path(), dir.path())?;

    // 4. Reopen from disk with the passphrase; read and deserialize.
    let t = Instant::now();
    let store = EncryptedStore::open(
        FilesystemStore::new(dir.path().to_path_buf()),
        Credential::passphrase(PASSPHRASE),
    )?;
    println!("reopened in {:?}", t.elapsed());
    let g = store.read(
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_KEY,
    )?;
    let graph2 = NetworkGraph::read(&mut &g[..], logger).map_err(|e| format!("{e:?}"))?;
    check(
        graph2 == graph,
        "network graph read back equals the one written",
    )?;
    let s = store.read(
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        SCORER_PERSISTENCE_KEY,
    )?;
    let scorer2 = ProbabilisticScorer::read(
        &mut &s[..],
        (
            ProbabilisticScoringDecayParameters::default(),
            &graph2,
            logger,
        ),
    )
    .map_err(|e| format!("{e:?}"))?;
    check(
        scorer2.encode() == scorer_bytes,
        "scorer read back re-serializes to the same bytes",
    )?;

    // 5. A wrong passphrase is refused.
    match EncryptedStore::open(
        FilesystemStore::new(dir.path().to_path_buf()),
        Credential::passphrase(b"guess"),
    ) {
        Err(e @ OpenError::WrongPassphrase) => check(true, &format!("wrong passphrase: {e}"))?,
        other => return Err(format!("wrong passphrase not refused: {other:?}").into()),
    }

    // 6. A tampered file is refused, naming the key.
    let mut tampered = on_disk.clone();
    let mid = tampered.len() / 2;
    if let Some(b) = tampered.get_mut(mid) {
        *b ^= 0x01;
    }
    std::fs::write(&graph_file, &tampered)?;
    let err = store
        .read(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        )
        .err()
        .ok_or("tampered value was accepted")?;
    let typed = err.get_ref().and_then(|e| e.downcast_ref::<ReadError>());
    check(
        err.kind() == lightning::io::ErrorKind::InvalidData
            && matches!(typed, Some(ReadError::AuthenticationFailed { .. })),
        &format!("tampered file: {}", shown(&err)),
    )?;
    drop(store);

    freshness()?;
    println!("all checks passed");
    Ok(())
}

/// A channel monitor and a payment on an anchored store: the older monitor and the removed
/// payment, put back while the node is down, are not served at the next start.
fn freshness() -> Result<(), Box<dyn Error>> {
    const MONITORS: &str = CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE;
    const M2: &str = CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE;
    const MONITOR: &str = "5a5f0e1c7d6a4b3f2e1d0c9b8a7f6e5d4c3b2a190807060504030201000f0e0d_1";
    let (data, anchor_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let inner = || FilesystemStore::new(data.path().to_path_buf());
    let anchor = || StoreAnchor::new(FilesystemStore::new(anchor_dir.path().to_path_buf()));
    println!(
        "anchored store in {}, anchor in {}",
        data.path().display(),
        anchor_dir.path().display()
    );

    let store = OpenOptions::new()
        .anchor(anchor())
        .create(inner(), Credential::passphrase(PASSPHRASE))?;
    store.write(MONITORS, M2, MONITOR, b"monitor, update_id 7".to_vec())?;
    store.write("payments", "", "pay_0001", b"payment, pending".to_vec())?;
    // What a backup (or an attacker who copied the disk) holds now.
    let old_monitor = inner().read(MONITORS, M2, MONITOR)?;
    let old_payment = inner().read("payments", "", "pay_0001")?;
    store.write(MONITORS, M2, MONITOR, b"monitor, update_id 8".to_vec())?;
    store.remove("payments", "", "pay_0001", false)?;
    drop(store);

    // The node is down: both older records are put back in the data directory.
    inner().write(MONITORS, M2, MONITOR, old_monitor)?;
    inner().write("payments", "", "pay_0001", old_payment)?;

    // The next start.
    let store = OpenOptions::new()
        .anchor(anchor())
        .open(inner(), Credential::passphrase(PASSPHRASE))?;
    let err = store
        .read(MONITORS, M2, MONITOR)
        .err()
        .ok_or("the older monitor was served")?;
    let typed = err.get_ref().and_then(|e| e.downcast_ref::<ReadError>());
    check(
        err.kind() == lightning::io::ErrorKind::InvalidData
            && matches!(typed, Some(ReadError::Rollback { .. })),
        &format!("older monitor put back while down: {}", shown(&err)),
    )?;
    match store.read("payments", "", "pay_0001") {
        Ok(_) => return Err("a removed payment put back was served".into()),
        Err(e) => check(
            e.kind() == lightning::io::ErrorKind::NotFound
                && matches!(
                    e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()),
                    Some(ReadError::Removed { .. })
                ),
            &format!(
                "removed payment put back while down: absent, not served ({})",
                shown(&e)
            ),
        )?,
    }
    check(
        store.list("payments", "")?.is_empty(),
        "removed payment put back while down: left out of the listing",
    )?;
    // Without its anchor the store does not open at all.
    match EncryptedStore::open(inner(), Credential::passphrase(PASSPHRASE)) {
        Err(e @ OpenError::AnchorRequired) => check(true, &format!("no anchor: {e}")),
        other => Err(format!("opened without its anchor: {:?}", other.err()).into()),
    }
}

/// The typed error an I/O error carries, as its own message says it; else the I/O error.
fn shown(e: &lightning::io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => format!("{:?}", e.kind()),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn list_files(root: &Path, dir: &Path) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            list_files(root, &path)?;
        } else {
            let bytes = std::fs::read(&path)?;
            let head: String = bytes.iter().take(12).map(|b| format!("{b:02x}")).collect();
            println!(
                "  {:<32} {:>7} bytes  {}...",
                path.strip_prefix(root)?.display(),
                bytes.len(),
                head
            );
        }
    }
    Ok(())
}
