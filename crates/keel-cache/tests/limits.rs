//! Bad input and invalidation: key length, entry weight, prefix and namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keel_cache::{Cache, CacheStatus, Error, Key};

#[tokio::test]
async fn keys_over_the_maximum_are_rejected_before_the_loader_runs() {
    let cache: Cache<String, u64> = Cache::builder("lim").max_key_len(16).build();
    let long = "x".repeat(17);
    let err = cache
        .get_or_load(long.clone(), || async {
            Err::<u64, _>(std::io::Error::other("loader ran"))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyTooLong { len: 17, max: 16 }));
    assert!(matches!(
        cache.insert(long.clone(), 1).await,
        Err(Error::KeyTooLong { .. })
    ));
    assert_eq!(cache.get(&long).await, None);
    cache.insert("x".repeat(16), 1).await.unwrap();
}

#[tokio::test]
async fn values_over_the_maximum_weight_are_served_not_cached_and_counted() {
    let cache: Cache<u64, Vec<u8>> = Cache::builder("lim")
        .max_capacity(1_000_000)
        .weigher(|_, v: &Vec<u8>| u32::try_from(v.len()).unwrap_or(u32::MAX))
        .max_entry_weight(100)
        .build();
    let big = cache
        .get_or_load(1, || async { Ok::<_, std::io::Error>(vec![0u8; 101]) })
        .await
        .unwrap();
    assert_eq!(big.value().len(), 101);
    assert_eq!(cache.get(&1).await, None);
    cache.insert(2, vec![1; 10]).await.unwrap();
    cache.insert(2, vec![1; 1000]).await.unwrap();
    assert_eq!(
        cache.get(&2).await,
        None,
        "an oversized insert must not leave the old value"
    );
    assert_eq!(cache.stats().oversized, 2);
    cache.insert(3, vec![1; 100]).await.unwrap();
    assert_eq!(cache.get(&3).await.map(|v| v.len()), Some(100));
}

#[tokio::test]
async fn capacity_by_weight_evicts_and_counts_by_cause() {
    let cache: Cache<u64, Vec<u8>> = Cache::builder("lim")
        .max_capacity(1000)
        .weigher(|_, v: &Vec<u8>| u32::try_from(v.len()).unwrap_or(u32::MAX))
        .build();
    for i in 0..100 {
        cache.insert(i, vec![0; 100]).await.unwrap();
    }
    cache.run_pending_tasks().await;
    let s = cache.stats();
    assert!(s.weighted_size <= 1000, "{s:?}");
    assert!(s.evictions.size >= 90, "{s:?}");
    cache.insert(0, vec![1; 1]).await.unwrap();
    cache.insert(0, vec![2; 1]).await.unwrap();
    cache.invalidate(&0).await;
    cache.run_pending_tasks().await;
    let s = cache.stats();
    assert!(
        s.evictions.replaced >= 1 && s.evictions.explicit >= 1,
        "{s:?}"
    );
}

#[tokio::test]
async fn prefix_invalidation_drops_exactly_the_matching_keys() {
    let cache: Cache<Key, u64> = Cache::builder("pfx").build();
    let u7 = Key::new("user").arg(7u32);
    let u70 = Key::new("user").arg(70u32);
    cache.insert(u7.clone(), 7).await.unwrap();
    cache.insert(u7.clone().arg("orders"), 71).await.unwrap();
    cache.insert(u70.clone().arg("orders"), 701).await.unwrap();
    cache.insert(Key::new("team").arg(7u32), 1).await.unwrap();
    cache.invalidate_prefix(u7.prefix().as_str()).await;
    assert_eq!(cache.get(&u7.clone().arg("orders")).await, None);
    assert_eq!(
        cache.get(&u7).await,
        Some(7),
        "`user:7` is not under `user:7:`"
    );
    assert_eq!(cache.get(&u70.arg("orders")).await, Some(701));
    cache.invalidate_prefix("user:").await;
    assert_eq!(cache.get(&u7).await, None);
    assert_eq!(cache.get(&Key::new("team").arg(7u32)).await, Some(1));
}

#[tokio::test]
async fn invalidate_all_then_reload() {
    let cache: Cache<u64, u64> = Cache::builder("all").build();
    for i in 0..10 {
        cache.insert(i, i).await.unwrap();
    }
    cache.invalidate_all().await;
    for i in 0..10 {
        assert_eq!(cache.get(&i).await, None);
    }
    let r = cache
        .get_or_load(1, || async { Ok::<_, std::io::Error>(100) })
        .await
        .unwrap();
    assert_eq!(r.into_parts(), (100, CacheStatus::Miss));
    assert_eq!(cache.get(&1).await, Some(100));
}

#[tokio::test]
async fn stats_count_hits_misses_and_load_time() {
    let cache: Cache<u64, u64> = Cache::builder("stats").build();
    for _ in 0..3 {
        cache
            .get_or_load(1, || async { Ok::<_, std::io::Error>(1) })
            .await
            .unwrap();
    }
    assert_eq!(cache.get(&2).await, None);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.loads, s.inserts), (2, 2, 1, 1));
    assert!((s.hit_ratio() - 0.5).abs() < 1e-9);
    assert!(!s.l2.enabled);
    assert!(format!("{cache:?}").contains("stats"));
}
