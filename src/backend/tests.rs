//! Tests of [`Backend`]: picking, slots, queues, backups and state changes with
//! HAProxy's messages (compared with HAProxy 2.6's output).

use super::*;
use crate::config::model::{self, CheckParams, Location, ProxyOptions};
use std::time::Duration;

fn server(name: &str, port: u16) -> model::Server {
    model::Server::new(name, Location { file: "t.cfg".into(), line: 1 }, ServerAddr::Inet { ip: [127, 0, 0, 1].into(), port: Some(port) })
}

fn proxy(balance: Balance, servers: Vec<model::Server>) -> Proxy {
    Proxy {
        name: "b".into(),
        balance,
        servers,
        retries: 3,
        options: ProxyOptions::default(),
        ..Proxy::default()
    }
}

fn checked(mut s: model::Server, rise: u32, fall: u32) -> model::Server {
    s.check = Some(CheckParams { rise, fall, ..CheckParams::default() });
    s
}

fn backup(mut s: model::Server) -> model::Server {
    s.backup = true;
    s
}

fn refused() -> CheckResult {
    CheckResult::Failed {
        reason: FailReason::L4Connection,
        info: "Connection refused".into(),
        duration: Duration::ZERO,
    }
}

fn ok() -> CheckResult {
    CheckResult::Ok { duration: Duration::ZERO }
}

fn texts(r: &StateReport) -> Vec<&str> {
    r.messages.iter().map(|m| m.text.as_str()).collect()
}

fn s(i: usize) -> ServerId {
    ServerId(i)
}

/// Picks `n` times, releasing each slot at once; returns the count per server.
fn distribution(be: &mut Backend, n: usize) -> Vec<usize> {
    let mut counts = vec![0; be.servers().len()];
    for _ in 0..n {
        match be.pick(None, None) {
            Pick::Server(id) => {
                counts[id.0] += 1;
                be.connection_ended(id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    counts
}

#[test]
fn from_config_assigns_ids_and_states() {
    let mut a = server("a", 1);
    a.disabled = true;
    let mut b = server("b2", 2);
    b.id = Some(1);
    let p = proxy(Balance::RoundRobin, vec![a, b, server("c", 3)]);
    let be = Backend::from_config(&p);
    assert_eq!(be.name(), "b");
    assert_eq!(be.retries(), 3);
    let ids: Vec<u32> = be.servers().iter().map(|s| s.puid()).collect();
    assert_eq!(ids, [2, 1, 3]);
    assert_eq!(be.server(s(0)).admin_state(), AdminState::Maint);
    assert_eq!(be.server(s(1)).socket_addr(), Some("127.0.0.1:2".parse().unwrap()));
    assert_eq!(be.server_by_name("c"), Some(s(2)));
    assert_eq!(be.eligible_servers(), &[s(1), s(2)]);
    assert_eq!(be.nbsrv(), 2);
}

#[test]
fn roundrobin_distribution_through_the_backend() {
    let mut b = server("b", 2);
    b.weight = 3;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![server("a", 1), b]));
    assert_eq!(distribution(&mut be, 400), [100, 300]);
    assert_eq!(be.server(s(1)).counters().cum_conns, 300);
    assert_eq!(be.server(s(1)).current_conns(), 0);
}

#[test]
fn maxconn_full_servers_are_skipped_then_requests_queue() {
    let mut a = server("a", 1);
    a.maxconn = 1;
    let mut b = server("b", 2);
    b.maxconn = 2;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![a, b]));
    let picks: Vec<Pick> = (0..3).map(|_| be.pick(None, None)).collect();
    assert_eq!(picks.iter().filter(|p| **p == Pick::Server(s(0))).count(), 1);
    assert_eq!(picks.iter().filter(|p| **p == Pick::Server(s(1))).count(), 2);
    assert_eq!(be.pick(None, None), Pick::Queue);
    assert_eq!(be.enqueue(10, None), 1);
    assert_eq!(be.enqueue(11, None), 2);
    assert_eq!(be.queue_len(), 2);
    // A slot frees on b: the oldest waiter gets it, and only one fits.
    be.connection_ended(s(1));
    assert_eq!(be.next_waiter_for_free_slot(s(1)), Some((10, s(1))));
    assert_eq!(be.next_waiter_for_free_slot(s(1)), None);
    assert_eq!(be.server(s(1)).current_conns(), 2);
    // While someone waits, new requests queue behind (roundrobin fairness), even
    // if a slot is free.
    be.connection_ended(s(0));
    assert_eq!(be.pick(None, None), Pick::Queue);
    let d = be.next_dequeued(s(0)).unwrap();
    assert_eq!((d.waiter, d.server, d.from), (11, s(0), QueueKind::Backend));
    // 11 waited while 10 left the queue: `%bq` 1.
    assert_eq!(d.queue_position, 1);
    assert_eq!(be.queue_len(), 0);
    assert_eq!(be.counters().max_queue, 2);
}

/// `set-priority-class|offset`: a lower class first, then an earlier due date, then
/// arrival; across the server's own queue and the backend's.
#[test]
fn queue_priority_orders_the_waiters() {
    use super::QueuePriority as P;
    let mut a = server("a", 1);
    a.maxconn = 1;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![a]));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
    be.enqueue_with(1, None, P { class: 0, due_ms: 100 });
    be.enqueue_with(2, None, P { class: 1, due_ms: 0 });
    be.enqueue_with(3, Some(s(0)), P { class: -1, due_ms: 500 });
    be.enqueue_with(4, None, P { class: 0, due_ms: 50 });
    be.enqueue_with(5, None, P { class: 0, due_ms: 100 });
    let mut order = Vec::new();
    for _ in 0..5 {
        be.connection_ended(s(0));
        order.push(be.next_waiter_for_free_slot(s(0)).unwrap().0);
    }
    assert_eq!(order, [3, 4, 1, 5, 2]);
}

#[test]
fn queue_removal_on_timeout() {
    let mut a = server("a", 1);
    a.maxconn = 1;
    let mut be = Backend::from_config(&proxy(Balance::LeastConn, vec![a]));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
    assert_eq!(be.pick(None, None), Pick::Queue);
    be.enqueue(1, None);
    be.enqueue(2, None);
    assert!(be.is_queued(1));
    assert!(be.remove(1));
    assert!(!be.remove(1));
    assert!(!be.is_queued(1));
    be.connection_ended(s(0));
    let d = be.next_dequeued(s(0)).unwrap();
    assert_eq!(d.waiter, 2);
    assert_eq!(d.queue_position, 0, "a removed waiter does not count as processed");
    assert_eq!(be.total_queued(), 0);
}

#[test]
fn source_queues_on_the_hashed_server_and_maxqueue_refuses() {
    let mut a = server("a", 1);
    a.maxconn = 1;
    a.maxqueue = 1;
    let mut be = Backend::from_config(&proxy(Balance::Source, vec![a, server("b", 2)]));
    // 10.0.0.2 hashes to server 0 (even address, two servers).
    let ip: IpAddr = [10, 0, 0, 2].into();
    assert_eq!(be.pick(Some(ip), None), Pick::Server(s(0)));
    assert_eq!(be.pick(Some(ip), None), Pick::QueueOnServer(s(0)));
    assert_eq!(be.enqueue(7, Some(s(0))), 1);
    assert_eq!(be.server(s(0)).queue_len(), 1);
    assert_eq!(be.pick(Some(ip), None), Pick::QueueFull(s(0)));
    // Other clients still reach the other server.
    assert_eq!(be.pick(Some([10, 0, 0, 3].into()), None), Pick::Server(s(1)));
    be.connection_ended(s(0));
    let d = be.next_dequeued(s(0)).unwrap();
    assert_eq!((d.waiter, d.from, d.queue_position), (7, QueueKind::Server, 0));
}

#[test]
fn oldest_waiter_wins_between_server_and_backend_queues() {
    let mut a = server("a", 1);
    a.maxconn = 1;
    let mut be = Backend::from_config(&proxy(Balance::StaticRr, vec![a]));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
    be.enqueue(1, None);
    be.enqueue(2, Some(s(0)));
    be.enqueue(3, None);
    let mut order = Vec::new();
    for _ in 0..3 {
        be.connection_ended(s(0));
        order.push(be.next_waiter_for_free_slot(s(0)).unwrap().0);
    }
    assert_eq!(order, [1, 2, 3]);
}

#[test]
fn first_fills_server_one_then_server_two_then_queues() {
    let mut a = server("a", 1);
    a.maxconn = 2;
    let mut b = server("b", 2);
    b.maxconn = 2;
    let mut be = Backend::from_config(&proxy(Balance::First, vec![a, b]));
    let picks: Vec<Pick> = (0..5).map(|_| be.pick(None, None)).collect();
    assert_eq!(
        picks,
        [Pick::Server(s(0)), Pick::Server(s(0)), Pick::Server(s(1)), Pick::Server(s(1)), Pick::Queue]
    );
    be.connection_ended(s(0));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
}

#[test]
fn leastconn_with_held_connections() {
    let mut be =
        Backend::from_config(&proxy(Balance::LeastConn, vec![server("a", 1), server("b", 2), server("c", 3)]));
    // Three long connections, one per server, then the one on b closes.
    for _ in 0..3 {
        assert!(matches!(be.pick(None, None), Pick::Server(_)));
    }
    be.connection_ended(s(1));
    assert_eq!(be.pick(None, None), Pick::Server(s(1)));
    // All hold one connection again: the tie goes to the next after b.
    assert_eq!(be.pick(None, None), Pick::Server(s(2)));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
}

#[test]
fn backups_only_when_no_active_server_and_only_the_first() {
    let p = proxy(
        Balance::RoundRobin,
        vec![checked(server("a", 1), 1, 1), backup(server("k1", 2)), backup(server("k2", 3))],
    );
    let mut be = Backend::from_config(&p);
    assert_eq!(distribution(&mut be, 4), [4, 0, 0]);
    be.on_check_result(s(0), refused());
    assert_eq!(be.nbsrv(), 1);
    assert_eq!(distribution(&mut be, 4), [0, 4, 0]);
    be.set_admin_state(s(1), AdminState::Maint);
    assert_eq!(distribution(&mut be, 4), [0, 0, 4]);
    be.set_admin_state(s(1), AdminState::Ready);
    be.on_check_result(s(0), ok());
    assert_eq!(distribution(&mut be, 4), [4, 0, 0]);
}

#[test]
fn allbackups_uses_every_backup() {
    let mut p = proxy(
        Balance::RoundRobin,
        vec![checked(server("a", 1), 1, 1), backup(server("k1", 2)), backup(server("k2", 3))],
    );
    p.options.allbackups = true;
    let mut be = Backend::from_config(&p);
    be.on_check_result(s(0), refused());
    assert_eq!(be.nbsrv(), 2);
    assert_eq!(distribution(&mut be, 4), [0, 2, 2]);
}

#[test]
fn disabled_and_drained_servers_get_no_traffic() {
    let mut a = server("a", 1);
    a.disabled = true;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![a, server("b", 2), server("c", 3)]));
    assert_eq!(distribution(&mut be, 4), [0, 2, 2]);
    be.set_admin_state(s(2), AdminState::Drain);
    assert_eq!(distribution(&mut be, 4), [0, 4, 0]);
    be.set_weight(s(1), 0);
    assert_eq!(be.pick(None, None), Pick::NoServer);
}

#[test]
fn redispatch_avoids_the_failed_server_when_possible() {
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![server("a", 1), server("b", 2)]));
    for _ in 0..4 {
        let Pick::Server(first) = be.pick(None, None) else { panic!() };
        be.connection_ended(first);
        let Pick::Server(again) = be.pick(None, Some(first)) else { panic!() };
        assert_ne!(again, first);
        be.connection_ended(again);
    }
    be.set_admin_state(s(1), AdminState::Maint);
    assert_eq!(be.pick(None, Some(s(0))), Pick::Server(s(0)));
}

#[test]
fn check_down_and_up_messages_match_haproxy() {
    let p = proxy(
        Balance::RoundRobin,
        vec![checked(server("s1", 1), 3, 3), backup(checked(server("s2", 2), 3, 3))],
    );
    let mut be = Backend::from_config(&p);
    let r = be.on_check_result(s(0), refused());
    assert!(r.changed);
    assert_eq!(
        texts(&r),
        ["Server b/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. \
          0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."]
    );
    assert_eq!(r.messages[0].level, Level::Alert);
    assert_eq!(r.messages[0].console, Severity::Warning);
    let r = be.on_check_result(s(1), refused());
    assert_eq!(
        texts(&r),
        [
            "Backup Server b/s2 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", \
             check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
            "backend b has no server available!",
        ]
    );
    assert_eq!(r.messages[1].level, Level::Emerg);
    assert_eq!(r.messages[1].console, Severity::Alert);
    assert_eq!(r.messages[1].console_text.as_deref(), Some("backend 'b' has no server available!"));
    assert_eq!(be.pick(None, None), Pick::NoServer);
    // Rise: two successes say nothing, the third brings it up.
    assert!(be.on_check_result(s(0), ok()).messages.is_empty());
    assert!(be.on_check_result(s(0), ok()).messages.is_empty());
    let r = be.on_check_result(s(0), ok());
    assert_eq!(
        texts(&r),
        ["Server b/s1 is UP, reason: Layer4 check passed, check duration: 0ms. \
          1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."]
    );
    assert_eq!(r.messages[0].level, Level::Notice);
    assert_eq!(be.server(s(0)).counters().down_transitions, 1);
    assert_eq!(be.server(s(0)).counters().failed_checks, 1);
}

#[test]
fn log_health_checks_lines_match_haproxy() {
    let mut p = proxy(
        Balance::RoundRobin,
        vec![checked(server("s1", 1), 3, 3), backup(checked(server("s2", 2), 3, 3))],
    );
    p.options.log_health_checks = true;
    let mut be = Backend::from_config(&p);
    let r = be.on_check_result(s(0), refused());
    assert_eq!(
        texts(&r),
        [
            "Health check for server b/s1 failed, reason: Layer4 connection problem, info: \"Connection refused\", \
             check duration: 0ms, status: 0/3 DOWN.",
            "Server b/s1 is DOWN. 0 active and 1 backup servers left. Running on backup. \
             0 sessions active, 0 requeued, 0 remaining in queue.",
        ]
    );
    // Starting at health = rise, the first success is logged (it fills the health).
    let r = be.on_check_result(s(1), ok());
    assert_eq!(
        texts(&r),
        ["Health check for backup server b/s2 succeeded, reason: Layer4 check passed, check duration: 0ms, \
          status: 3/3 UP."]
    );
    let r = be.on_check_result(s(1), ok());
    assert!(r.messages.is_empty(), "a check that changes nothing is not logged");
    be.on_check_result(s(0), ok());
    be.on_check_result(s(0), ok());
    let r = be.on_check_result(s(0), ok());
    assert_eq!(
        texts(&r),
        [
            "Health check for server b/s1 succeeded, reason: Layer4 check passed, check duration: 0ms, status: 3/3 UP.",
            "Server b/s1 is UP. 1 active and 1 backup servers online. 0 sessions requeued, 0 total in queue.",
        ]
    );
    let r = be.on_check_result(s(1), refused());
    assert_eq!(
        texts(&r)[0],
        "Health check for backup server b/s2 failed, reason: Layer4 connection problem, info: \"Connection refused\", \
         check duration: 0ms, status: 2/3 UP."
    );
}

#[test]
fn server_down_redistributes_its_queue_only_with_redispatch() {
    for redispatch in [false, true] {
        let mut a = checked(server("a", 1), 1, 1);
        a.maxconn = 1;
        let mut p = proxy(Balance::Source, vec![a, server("b", 2)]);
        p.options.redispatch = redispatch;
        let mut be = Backend::from_config(&p);
        let ip: IpAddr = [10, 0, 0, 2].into();
        assert_eq!(be.pick(Some(ip), None), Pick::Server(s(0)));
        assert_eq!(be.pick(Some(ip), None), Pick::QueueOnServer(s(0)));
        be.enqueue(5, Some(s(0)));
        let r = be.on_check_result(s(0), refused());
        let expected = if redispatch {
            "Server b/a is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. \
             1 active and 0 backup servers left. 1 sessions active, 1 requeued, 0 remaining in queue."
        } else {
            "Server b/a is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms. \
             1 active and 0 backup servers left. 1 sessions active, 0 requeued, 1 remaining in queue."
        };
        assert_eq!(texts(&r), [expected]);
        assert_eq!(r.redispatch, if redispatch { vec![5] } else { vec![] });
        assert_eq!(be.is_queued(5), !redispatch);
    }
}

#[test]
fn server_up_takes_waiters_from_the_backend_queue() {
    let mut a = checked(server("a", 1), 1, 1);
    a.maxconn = 2;
    let mut b = server("b", 2);
    b.maxconn = 1;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![a, b]));
    be.on_check_result(s(0), refused());
    assert_eq!(be.pick(None, None), Pick::Server(s(1)));
    assert_eq!(be.pick(None, None), Pick::Queue);
    for w in 1..=3 {
        be.enqueue(w, None);
    }
    let r = be.on_check_result(s(0), ok());
    let assigned: Vec<(WaiterId, ServerId)> = r.assigned.iter().map(|d| (d.waiter, d.server)).collect();
    assert_eq!(assigned, [(1, s(0)), (2, s(0))]);
    assert_eq!(
        texts(&r),
        ["Server b/a is UP, reason: Layer4 check passed, check duration: 0ms. \
          2 active and 0 backup servers online. 2 sessions requeued, 0 total in queue."]
    );
    assert_eq!(be.server(s(0)).current_conns(), 2);
    assert_eq!(be.queue_len(), 1);
}

#[test]
fn admin_state_messages_match_haproxy() {
    let p = proxy(
        Balance::RoundRobin,
        vec![checked(server("s1", 1), 2, 2), server("s2", 2), backup(server("s3", 3))],
    );
    let mut be = Backend::from_config(&p);
    let r = be.set_admin_state(s(0), AdminState::Drain);
    assert_eq!(
        texts(&r),
        ["Server b/s1 enters drain state. 1 active and 1 backup servers online. 0 sessions requeued, 0 total in queue."]
    );
    let r = be.set_admin_state(s(0), AdminState::Ready);
    assert_eq!(texts(&r), ["Server b/s1 is UP (leaving forced drain)."]);
    let r = be.set_admin_state(s(0), AdminState::Maint);
    assert_eq!(
        texts(&r),
        ["Server b/s1 is going DOWN for maintenance. 1 active and 1 backup servers left. \
          0 sessions active, 0 requeued, 0 remaining in queue."]
    );
    assert_eq!(r.messages[0].level, Level::Alert);
    let r = be.set_admin_state(s(1), AdminState::Maint);
    assert_eq!(
        texts(&r),
        ["Server b/s2 is going DOWN for maintenance. 0 active and 1 backup servers left. Running on backup. \
          0 sessions active, 0 requeued, 0 remaining in queue."]
    );
    let r = be.set_admin_state(s(0), AdminState::Ready);
    assert_eq!(texts(&r), ["Server b/s1 is UP/READY (leaving forced maintenance)."]);
    let r = be.set_admin_state(s(1), AdminState::Drain);
    assert_eq!(
        texts(&r),
        ["Server b/s2 is UP/DRAIN (leaving forced maintenance).", "Server b/s2 remains in forced drain mode."]
    );
    // A server that is down when put in maintenance.
    be.on_check_result(s(0), refused());
    let r = be.set_admin_state(s(0), AdminState::Maint);
    assert_eq!(texts(&r), ["Server b/s1 was DOWN and now enters maintenance."]);
    // Leaving maintenance restarts the check: UP until the first failure.
    be.set_admin_state(s(0), AdminState::Ready);
    assert_eq!(be.server(s(0)).op_state(), OpState::Up);
    assert_eq!(be.on_check_result(s(0), refused()).messages.len(), 1);
    assert_eq!(be.server(s(0)).op_state(), OpState::Down);
}

#[test]
fn last_server_drained_alerts_no_server_available() {
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![backup(server("s3", 3))]));
    let r = be.set_admin_state(s(0), AdminState::Drain);
    assert_eq!(
        texts(&r),
        [
            "Backup Server b/s3 enters drain state. 0 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            "backend b has no server available!",
        ]
    );
    let r = be.set_admin_state(s(0), AdminState::Maint);
    assert_eq!(r.messages[0].level, Level::Notice);
    assert_eq!(r.messages.len(), 1);
}

#[test]
fn checks_are_ignored_in_maintenance() {
    let mut s1 = checked(server("s1", 1), 1, 1);
    s1.disabled = true;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![s1]));
    assert_eq!(be.on_check_result(s(0), refused()), StateReport::default());
    assert_eq!(be.server(s(0)).op_state(), OpState::Up);
}

#[test]
fn operational_state_by_hand() {
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![checked(server("s1", 1), 2, 2)]));
    let r = be.set_operational_state_with_reason(s(0), OpState::Down, Some("changed from CLI"));
    assert_eq!(
        texts(&r),
        [
            "Server b/s1 is DOWN, changed from CLI. 0 active and 0 backup servers left. \
             0 sessions active, 0 requeued, 0 remaining in queue.",
            "backend b has no server available!",
        ]
    );
    assert_eq!(be.server(s(0)).check().unwrap().health(), 0);
    let r = be.set_operational_state(s(0), OpState::Up);
    assert_eq!(
        texts(&r),
        ["Server b/s1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."]
    );
    assert!(be.set_operational_state(s(0), OpState::Up).messages.is_empty());
}

#[test]
fn beconn_counts_attached_streams() {
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![server("a", 1)]));
    be.stream_attached();
    be.stream_attached();
    be.stream_detached();
    assert_eq!(be.beconn(), 1);
    assert_eq!(be.counters().cum_conns, 2);
    assert_eq!(be.counters().max_conns, 2);
}

#[test]
fn backups_taking_over_serve_the_backend_queue() {
    let mut a = checked(server("a", 1), 1, 1);
    a.maxconn = 1;
    let mut k = backup(server("k", 2));
    k.maxconn = 5;
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![a, k]));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
    assert_eq!(be.pick(None, None), Pick::Queue);
    be.enqueue(1, None);
    be.enqueue(2, None);
    let r = be.on_check_result(s(0), refused());
    let assigned: Vec<(WaiterId, ServerId)> = r.assigned.iter().map(|d| (d.waiter, d.server)).collect();
    assert_eq!(assigned, [(1, s(1)), (2, s(1))]);
    assert_eq!(be.server(s(1)).current_conns(), 2);
}

#[test]
fn weight_changes_apply_at_once() {
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![server("a", 1), server("b", 2)]));
    assert_eq!(distribution(&mut be, 10), [5, 5]);
    be.set_weight(s(0), 4);
    assert_eq!(be.server(s(0)).effective_weight(), 4);
    assert_eq!(distribution(&mut be, 10), [8, 2]);
    let r = be.set_weight(s(1), 0);
    assert!(r.changed);
    assert_eq!(be.server(s(1)).effective_weight(), 0);
    assert_eq!(distribution(&mut be, 10), [10, 0]);
}

#[test]
fn check_address_and_timeout() {
    let mut a = checked(server("a", 80), 2, 3);
    a.check.as_mut().unwrap().port = Some(8080);
    let mut b = checked(server("b", 81), 2, 3);
    b.check.as_mut().unwrap().addr = Some([127, 0, 0, 9].into());
    b.check.as_mut().unwrap().inter = Duration::from_millis(500);
    let mut p = proxy(Balance::RoundRobin, vec![a, b, server("c", 82)]);
    let be = Backend::from_config(&p);
    assert_eq!(be.server(s(0)).check_addr(), Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(be.server(s(1)).check_addr(), Some("127.0.0.9:81".parse().unwrap()));
    assert_eq!(be.server(s(2)).check_addr(), None);
    assert_eq!(be.check_timeout(s(0)), Some(Duration::from_secs(2)));
    assert_eq!(be.check_timeout(s(2)), None);
    p.timeouts.connect = Some(Duration::from_secs(1));
    let be = Backend::from_config(&p);
    assert_eq!(be.check_timeout(s(0)), Some(Duration::from_secs(2)), "timeout connect alone is not used");
    p.timeouts.check = Some(Duration::from_secs(5));
    let be = Backend::from_config(&p);
    assert_eq!(be.check_timeout(s(0)), Some(Duration::from_secs(1)));
    assert_eq!(be.check_timeout(s(1)), Some(Duration::from_millis(500)));
}

#[test]
fn connect_failure_counters() {
    let mut be = Backend::from_config(&proxy(Balance::RoundRobin, vec![server("a", 1), server("b", 2)]));
    let Pick::Server(id) = be.pick(None, None) else { panic!() };
    be.connection_failed(id);
    be.connection_retried(id);
    be.connection_failed(id);
    be.redispatched(id);
    be.connection_ended(id);
    let c = be.server(id).counters();
    assert_eq!((c.failed_conns, c.retries, c.redispatches), (2, 1, 1));
    assert_eq!(be.counters().failed_conns, 2);
    assert_eq!(be.server(id).current_conns(), 0);
}

/// HAProxy 2.6 (`show stat` after holding connections): `first` does not queue on
/// a full server with `maxqueue` room but moves on, then uses the backend queue.
#[test]
fn first_moves_on_from_a_full_server_even_with_queue_room() {
    let mut a = server("a", 1);
    a.maxconn = 1;
    a.maxqueue = 2;
    let mut b = server("b", 2);
    b.maxconn = 1;
    let mut be = Backend::from_config(&proxy(Balance::First, vec![a, b]));
    assert_eq!(be.pick(None, None), Pick::Server(s(0)));
    assert_eq!(be.pick(None, None), Pick::Server(s(1)));
    assert_eq!(be.pick(None, None), Pick::Queue);
}

/// `http-check disable-on-404`: a 404 takes an UP server out of the farm without
/// taking it down; a 200 brings it back; a DOWN server answering 404 stays DOWN.
#[test]
fn conditional_pass_makes_an_up_server_stop_taking_traffic() {
    let mut be = Backend::from_config(&proxy(
        Balance::RoundRobin,
        vec![checked(server("s1", 1), 2, 2), checked(server("s2", 2), 2, 2)],
    ));
    let not_found = || CheckResult::ConditionalPass {
        code: 404,
        duration: Duration::ZERO,
        otherwise: Box::new(CheckResult::WrongStatus { code: 404, info: "Not Found".into(), duration: Duration::ZERO }),
    };
    let passed = || CheckResult::Passed { code: 200, duration: Duration::ZERO };
    let r = be.on_check_result(s(0), not_found());
    assert_eq!(
        texts(&r),
        ["Server b/s1 is stopping, reason: Layer7 check conditionally passed, code: 404, check duration: 0ms. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."]
    );
    assert!(be.server(s(0)).is_stopping());
    assert_eq!(be.server(s(0)).op_state(), OpState::Up);
    assert_eq!(distribution(&mut be, 4), [0, 4]);
    // Still 404: no new message.
    assert!(be.on_check_result(s(0), not_found()).messages.is_empty());
    let r = be.on_check_result(s(0), passed());
    assert_eq!(
        texts(&r),
        ["Server b/s1 is UP, reason: Layer7 check passed, code: 200, check duration: 0ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."]
    );
    assert_eq!(distribution(&mut be, 4), [2, 2]);
    // Down (fall 2 from full health), then 404s: judged as wrong statuses, it stays down.
    be.on_check_result(s(0), refused());
    be.on_check_result(s(0), refused());
    assert_eq!(be.server(s(0)).op_state(), OpState::Down);
    for _ in 0..3 {
        assert!(be.on_check_result(s(0), not_found()).messages.is_empty());
    }
    assert_eq!(be.server(s(0)).op_state(), OpState::Down);
    assert!(!be.server(s(0)).is_stopping());
}

#[test]
fn inherited_maintenance_and_drain_as_haproxy_words_them() {
    let mut tracker = server("t", 2);
    tracker.tuning.track = Some("s1".into());
    let p = proxy(Balance::RoundRobin, vec![checked(server("s1", 1), 2, 2), tracker]);
    let mut be = Backend::from_config(&p);
    let r = be.set_inherited_admin(s(1), AdminState::Maint, "b/s1", OpState::Up);
    assert_eq!(
        texts(&r),
        ["Server b/t is going DOWN for maintenance via b/s1. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."]
    );
    assert!(!be.server(s(1)).is_usable());
    assert_eq!((be.server(s(1)).admin_state(), be.server(s(1)).effective_admin()), (AdminState::Ready, AdminState::Maint));
    // Its own maintenance on top: leaving it keeps the inherited one.
    assert!(texts(&be.set_admin_state(s(1), AdminState::Maint)).is_empty());
    let r = be.set_admin_state(s(1), AdminState::Ready);
    assert_eq!(texts(&r), ["Server b/t is leaving forced maintenance but remains in maintenance via b/s1."]);
    // Out of maintenance, it is in the state of the server it tracks.
    let r = be.set_inherited_admin(s(1), AdminState::Ready, "b/s1", OpState::Down);
    assert_eq!(texts(&r), ["Server b/t is DOWN/READY (leaving maintenance)."]);
    assert_eq!(be.server(s(1)).op_state(), OpState::Down);
    be.set_tracked_state(s(1), OpState::Up, "b/s1");
    let r = be.set_inherited_admin(s(1), AdminState::Drain, "b/s1", OpState::Up);
    assert_eq!(
        texts(&r),
        ["Server b/t enters drain state via b/s1. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."]
    );
    let r = be.set_inherited_admin(s(1), AdminState::Ready, "b/s1", OpState::Up);
    assert_eq!(texts(&r), ["Server b/t is UP (leaving forced drain)."]);
    assert!(be.server(s(1)).is_usable());
}
