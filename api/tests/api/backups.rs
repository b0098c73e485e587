//! `pledge backup` and `pledge restore` on both databases: taken while donations arrive, the
//! backup restores into an empty database with every donation made before it.

use std::time::Duration;

use api::db::backup;

use crate::helpers::{Backend, TestApp, TestDatabase};

#[tokio::test]
async fn sqlite_backup_taken_under_load_restores_every_earlier_donation() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    backup_under_load_restores_every_earlier_donation(app, Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_backup_taken_under_load_restores_every_earlier_donation() {
    if let Some(app) = crate::helpers::spawn_app(Backend::Postgres).await {
        backup_under_load_restores_every_earlier_donation(app, Backend::Postgres).await;
    }
}

async fn backup_under_load_restores_every_earlier_donation(app: TestApp, backend: Backend) {
    let mut before = Vec::new();
    for amount in 1..=12 {
        let page = app.start_donation(&[("campaign", "water"), ("amount", &amount.to_string()), ("lang", "en")]).await;
        if amount % 3 == 0 {
            let back = app.choose_on_hosted_page(&page, "paid").await;
            app.return_from_gateway(&back).await;
        }
        before.push(app.donation(&page).await);
    }
    let raised_before = app.stored_totals("water").await.raised_minor;
    assert_eq!(raised_before, (3 + 6 + 9 + 12) * 100);

    // Donations keep arriving while the backup runs: it must neither wait for them nor stop them.
    let load = {
        let (client, url) = (app.client.clone(), app.at("/api/v1/donations"));
        tokio::spawn(async move {
            let mut acknowledged = 0;
            for _ in 0..40 {
                let form = [("campaign", "water"), ("amount", "7"), ("lang", "en")];
                if client.post(url.clone()).form(&form).send().await.is_ok_and(|r| r.status() == 303) {
                    acknowledged += 1;
                }
            }
            acknowledged
        })
    };
    let dir = tempfile::tempdir().unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = backup::backup(app.database_url(), dir.path(), 3).await.expect("an online backup");
    assert_eq!(load.await.unwrap(), 40, "no donation was refused during the backup");
    assert!(report.bytes > 0 && report.file.exists());
    assert!(!report.file.file_name().unwrap().to_string_lossy().starts_with('.'));

    let target = TestDatabase::create(backend).await.unwrap();
    backup::restore(&target.url, &report.file, false).await.expect("the backup restores");
    let restored = api::db::connect(&target.url).await.expect("the restored database opens and migrates");
    for donation in &before {
        let found = restored.donation(&donation.id).await.unwrap().expect("a donation made before the backup");
        assert_eq!((found.amount, found.status), (donation.amount, donation.status));
    }
    let totals = restored.campaign_totals().await.unwrap();
    let raised = totals.iter().find(|t| t.slug == "water").unwrap().raised_minor;
    assert_eq!(raised, raised_before, "the restored running total matches its donations");
}

#[tokio::test]
async fn backups_rotate_and_a_restore_never_overwrites_by_accident() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(backup::backup(app.database_url(), dir.path(), 2).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    left.sort();
    assert_eq!(left, [made[2].file.clone(), made[3].file.clone()], "the newest two are kept");
    assert_eq!(made[3].removed.len(), 1);

    let target = TestDatabase::create(Backend::Sqlite).await.unwrap();
    backup::restore(&target.url, &made[3].file, false).await.unwrap();
    let again = backup::restore(&target.url, &made[3].file, false).await;
    assert!(matches!(again, Err(backup::BackupError::TargetExists { .. })), "{again:?}");
    backup::restore(&target.url, &made[3].file, true).await.expect("--force replaces it");

    let broken = dir.path().join("pledge-broken.sqlite3");
    std::fs::write(&broken, b"not a database at all, just some bytes").unwrap();
    assert!(backup::restore(&target.url, &broken, true).await.is_err(), "a damaged file is refused");
    let dump = dir.path().join("pledge-1.pgdump");
    std::fs::write(&dump, b"x").unwrap();
    assert!(matches!(backup::restore(&target.url, &dump, true).await, Err(backup::BackupError::WrongKind { .. })));
}
