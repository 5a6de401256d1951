use super::*;

/// The audit outbox (`put_object_audited` and friends). Needs a store whose outbox is
/// empty and used by nobody else meanwhile (the outbox is one queue per store, so this
/// check is not part of [`run_all`], which runs concurrently with itself). Returns the
/// first and the last entry number it saw (0, 0 for a store without an outbox).
pub async fn audit_outbox(s: &dyn MetaStore) -> (u64, u64) {
    let none = WriteCondition::None;
    let (_, b) = fresh_bucket(s).await;
    if !s.has_audit_outbox() {
        // Refused loudly, and the write does not happen without its event.
        assert!(
            s.put_object_audited(&inline_obj(&b, "k", b"x"), &none, None, b"e".to_vec())
                .await
                .is_err()
        );
        assert_eq!(s.get_object(&b, "k").await.unwrap(), None);
        assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
        return (0, 0);
    }
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));

    // A write that fails commits no event.
    assert_err!(
        s.put_object_audited(&inline_obj(&uniq(), "k", b"x"), &none, None, b"x".to_vec())
            .await,
        Error::NoSuchBucket
    );
    s.put_object(&inline_obj(&b, "k", b"x"), &none, None)
        .await
        .unwrap();
    assert_err!(
        s.put_object_audited(
            &inline_obj(&b, "k", b"y"),
            &WriteCondition::IfNoneMatch,
            None,
            b"x".to_vec()
        )
        .await,
        Error::PreconditionFailed
    );
    assert_err!(
        s.put_object_audited(
            &inline_obj(&b, "big", b"12345"),
            &none,
            Some(3),
            b"x".to_vec()
        )
        .await,
        Error::QuotaExceeded(_)
    );
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
    assert_eq!(s.get_object(&b, "k").await.unwrap().unwrap().size, 1);

    // A write that succeeds commits its event, numbered in commit order.
    for i in 0..5 {
        let o = inline_obj(&b, &format!("k{i}"), b"v");
        s.put_object_audited(&o, &none, None, format!("event-{i}").into_bytes())
            .await
            .unwrap();
        assert_eq!(s.get_object(&b, &o.key).await.unwrap(), Some(o));
    }
    let all = s.read_audit_outbox(0, None, u64::MAX).await.unwrap();
    let events: Vec<&[u8]> = all.iter().map(|(_, e)| e.as_slice()).collect();
    assert_eq!(
        events,
        [
            &b"event-0"[..],
            b"event-1",
            b"event-2",
            b"event-3",
            b"event-4"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{all:?}");
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (5, 35));
    assert_eq!(s.bucket_usage(&b).await.unwrap(), usage(6, 6));

    // The byte budget stops before it is exceeded but always yields one entry; an upper
    // number bounds the read whatever the budget.
    assert_eq!(s.read_audit_outbox(0, None, 14).await.unwrap(), all[..2]);
    assert_eq!(s.read_audit_outbox(0, None, 1).await.unwrap(), all[..1]);
    assert_eq!(
        s.read_audit_outbox(all[0].0, Some(all[2].0), 1)
            .await
            .unwrap(),
        all[1..3]
    );
    assert_eq!(
        s.read_audit_outbox(all[4].0, None, u64::MAX).await.unwrap(),
        []
    );

    // Trimming removes a prefix.
    s.trim_audit_outbox(all[1].0).await.unwrap();
    assert_eq!(
        s.read_audit_outbox(0, None, u64::MAX).await.unwrap(),
        all[2..]
    );
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (3, 21));
    s.trim_audit_outbox(all[4].0).await.unwrap();
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));

    // Numbers are never reused, also once every entry was trimmed.
    s.put_object_audited(&inline_obj(&b, "again", b"v"), &none, None, b"e".to_vec())
        .await
        .unwrap();
    let again = s.read_audit_outbox(0, None, u64::MAX).await.unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].0 > all[4].0, "{again:?} after {all:?}");
    s.trim_audit_outbox(again[0].0).await.unwrap();
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
    (all[0].0, again[0].0)
}

/// The audit outbox under concurrent writes. Needs a store whose outbox is empty and
/// used by nobody else meanwhile (as [`audit_outbox`]); passes trivially on a store
/// without an outbox (whose refusal `audit_outbox` checks).
///
/// Of concurrent `put_object_audited` calls, each one that succeeds commits its event
/// exactly once and each one that fails commits none; readers polling meanwhile only
/// ever see a prefix of the final sequence (numbers are assigned in commit order, so no
/// entry becomes visible before a lower-numbered one); a write that starts after another
/// returned gets a higher number.
pub async fn audit_outbox_concurrent_writes(s: &dyn MetaStore) {
    if !s.has_audit_outbox() {
        return;
    }
    let none = WriteCondition::None;
    let (_, b) = fresh_bucket(s).await;
    assert_eq!(s.audit_outbox_depth().await.unwrap(), (0, 0));
    // Every third key exists already: its IfNoneMatch write fails and has no event.
    const N: usize = 48;
    for i in (0..N).step_by(3) {
        s.put_object(&inline_obj(&b, &format!("k{i:02}"), b"old"), &none, None)
            .await
            .unwrap();
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let writes = join_all((0..N).map(|i| {
        let o = inline_obj(&b, &format!("k{i:02}"), b"new");
        let event = format!("event-{i:02}").into_bytes();
        async move {
            s.put_object_audited(&o, &WriteCondition::IfNoneMatch, None, event)
                .await
        }
    }));
    let reader = async {
        let mut seen = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            seen.push(s.read_audit_outbox(0, None, u64::MAX).await.unwrap());
            tokio::task::yield_now().await;
        }
        seen
    };
    let (results, seen) = futures::join!(
        async {
            let r = writes.await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        },
        reader
    );
    for (i, r) in results.iter().enumerate() {
        if i % 3 == 0 {
            assert_err!(r, Error::PreconditionFailed);
        } else {
            assert!(r.is_ok(), "{i}: {r:?}");
        }
    }
    let all = s.read_audit_outbox(0, None, u64::MAX).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "{all:?}");
    let mut events: Vec<String> = all
        .iter()
        .map(|(_, e)| String::from_utf8(e.clone()).unwrap())
        .collect();
    events.sort();
    let expected: Vec<String> = (0..N)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("event-{i:02}"))
        .collect();
    assert_eq!(events, expected);
    for read in &seen {
        assert_eq!(read[..], all[..read.len()], "a read that is not a prefix");
    }
    for i in 0..N {
        let got = s
            .get_object(&b, &format!("k{i:02}"))
            .await
            .unwrap()
            .unwrap();
        let want: &[u8] = if i % 3 == 0 { b"old" } else { b"new" };
        assert_eq!(got.data, ObjectData::Inline(want.to_vec()), "k{i:02}");
    }
    s.put_object_audited(&inline_obj(&b, "last", b"v"), &none, None, b"last".to_vec())
        .await
        .unwrap();
    let after = s
        .read_audit_outbox(all.last().unwrap().0, None, u64::MAX)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1, b"last");
    assert_eq!(
        s.audit_outbox_depth().await.unwrap().0,
        expected.len() as u64 + 1
    );
}
