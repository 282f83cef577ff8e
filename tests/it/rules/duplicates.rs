//! `DUPLICATE_RECORD` (src: `reconcile/rules/duplicates.rs`).

use super::harness::*;

#[test]
fn rules_duplicate_record() {
    let mut t = Table::default();
    let p = P::with_x("王五", M, "1972-08-18", 0);
    let on_register = || {
        let mut w = world();
        w.psb(
            "CSH",
            &P::with_x("王五", M, "1972-08-18", 0),
            V1,
            "2010-01-01",
        );
        w
    };
    let dup = |town: &'static str, ids: &[&str]| ("DUPLICATE_RECORD", town, spids(ids));
    let res = |town: &'static str| {
        (
            "RESIDENCE_MISMATCH",
            town,
            sid(&P::with_x("王五", M, "1972-08-18", 0)),
        )
    };

    t.check(
        "raised: two records with the same ID in one township",
        on_register().pis_of("RK1", &p, V1).pis_of("RK2", &p, V1B),
        &[dup(T1, &["RK1", "RK2"])],
    );
    t.check(
        "raised: same ID typed differently (lower-case x / 15-digit); the newer record's township",
        on_register()
            .pis("RK1", &legacy15(&p.id), &p.name, M, &p.birth, V1)
            .modified("2014-03-01 10:00:00")
            .pis("RK2", &p.id.to_lowercase(), &p.name, M, &p.birth, V2)
            .modified("2014-03-01 10:00:01"),
        &[dup(T2, &["RK1", "RK2"]), res(T2)],
    );
    t.check(
        "raised: the older record in T2: the ticket goes to T1",
        on_register()
            .pis_of("RK1", &p, V1)
            .modified("2014-05-01 00:00:00")
            .pis_of("RK2", &p, V2)
            .modified("2014-04-30 23:59:59"),
        &[dup(T1, &["RK1", "RK2"]), res(T2)],
    );
    t.check(
        "raised: equal modifiedTime: the larger personId's township (RK2 in T1)",
        on_register().pis_of("RK2", &p, V1).pis_of("RK1", &p, V2),
        &[dup(T1, &["RK1", "RK2"]), res(T2)],
    );
    t.check(
        "raised: three records: one ticket, ids sorted",
        on_register()
            .pis_of("RK3", &p, V1)
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V1B),
        &[dup(T1, &["RK1", "RK2", "RK3"])],
    );
    t.check(
        "benign: the other record is moved out (zt 2)",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V2)
            .zt(2),
        &[],
    );
    t.check(
        "benign: the other record is dead (zt 3)",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V2)
            .zt(3),
        &[],
    );
    t.check(
        "benign: the other record is deleted",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V2)
            .deleted(),
        &[],
    );

    let m = mum();
    const B1: &str = "B000000001";
    const B2: &str = "B000000002";
    let b40 = ago(40);
    t.check(
        "raised: neither has sfzh, both denote the same birth (csyxzmbh)",
        with_mum()
            .birth_cert(B1, None, F, &b40, &m, V1)
            .pis("RK1", "", "陈小红", F, &b40, V1)
            .csyxzmbh(B1)
            .pis("RK2", "", "", F, &b40, V1)
            .csyxzmbh(B1),
        &[dup(T1, &["RK1", "RK2"])],
    );
    let young = ago(10);
    t.check("raised: neither has sfzh, no birth known: same mqSfzh (typed differently), csrq, xb and name",
        with_mum()
            .pis("RK1", "", "陈 宝", F, &young, V1).mq(&m.id)
            .pis("RK2", "", "陈宝", F, &young, V1).mq(&full_width(&m.id)),
        &[dup(T1, &["RK1", "RK2"])]);
    t.check(
        "benign: same mother, date and sex but different names (twins)",
        with_mum()
            .pis("RK1", "", "陈大宝", F, &young, V1)
            .mq(&m.id)
            .pis("RK2", "", "陈二宝", F, &young, V1)
            .mq(&m.id),
        &[],
    );
    t.check(
        "benign: same name, csrq, xb but different mothers",
        with_mum()
            .pis("RK1", "", "陈宝", F, &young, V1)
            .mq(&m.id)
            .pis("RK2", "", "陈宝", F, &young, V1)
            .mq(&stranger_mum().id),
        &[],
    );
    t.check(
        "benign: named twins, each record denotes its own birth",
        with_mum()
            .birth_cert(B1, Some("陈大宝"), F, &b40, &m, V1)
            .birth_cert(B2, Some("陈二宝"), F, &b40, &m, V1)
            .pis("RK1", "", "陈二宝", F, &b40, V1)
            .mq(&m.id)
            .pis("RK2", "", "陈大宝", F, &b40, V1)
            .mq(&m.id),
        &[],
    );
    let kid = woman("陈小红", &ago(120), 1);
    t.check(
        "raised: one record has the child's ID, the other (no sfzh) denotes the child's birth",
        with_mum()
            .birth_cert(B1, None, F, &kid.birth, &m, V1)
            .cs(&kid, &m, V1, &ago(100))
            .csyxzmbh_cs(B1)
            .pis_of("RK1", &kid, V1)
            .pis("RK2", "", "", F, &kid.birth, V2)
            .mq(&m.id)
            .modified("2014-06-01 00:00:00"),
        // RK2 denotes the child: it is also in the wrong township and has no name.
        &[
            dup(T2, &["RK1", "RK2"]),
            ("RESIDENCE_MISMATCH", T2, sid(&kid)),
            ("IDENTITY_MISMATCH", T2, sid(&kid)),
        ],
    );
    t.check(
        "raised: stands beside DEATH_NOT_RECORDED",
        on_register()
            .pis_of("RK1", &p, V1)
            .pis_of("RK2", &p, V1)
            .cremation("HH1", &p, &ago(50), &ago(48)),
        &[
            dup(T1, &["RK1", "RK2"]),
            ("DEATH_NOT_RECORDED", T1, sid(&p)),
        ],
    );
    t.finish();
}
