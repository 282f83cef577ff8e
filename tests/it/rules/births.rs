//! `BIRTH_NOT_IN_PIS` and `BIRTH_NOT_REGISTERED` (src: `reconcile/rules/births.rs`).

use super::harness::*;

#[test]
fn rules_birth_not_in_pis() {
    let mut t = Table::default();
    let m = mum();
    let b30 = ago(30);
    let kid = man("陈小明", &b30, 1);
    const B1: &str = "B000000001";
    const B2: &str = "B000000002";

    t.check("raised: certificate only, birth on D-30, routed to the mother's PSB township (not the residence)",
        with_mum().birth_cert(B1, None, M, &b30, &m, V2), &[("BIRTH_NOT_IN_PIS", T1, scert(B1))]);
    t.check(
        "benign: birth on D-29 is within grace",
        with_mum().birth_cert(B1, None, M, &ago(29), &m, V2),
        &[],
    );
    t.check(
        "raised: mother unknown to psb: routed to the certificate's residence township",
        world().birth_cert(B1, None, M, &b30, &stranger_mum(), V3),
        &[("BIRTH_NOT_IN_PIS", T3, scert(B1))],
    );
    t.check("raised: CS row only: routed to the CS township, subject the child's ID (no RESIDENT_MISSING)",
        with_mum().cs(&kid, &m, V2, &ago(20)), &[("BIRTH_NOT_IN_PIS", T2, schild(&kid))]);
    t.check(
        "raised: CS registered overdue too: still one BIRTH_NOT_IN_PIS, RESIDENT_MISSING covered",
        with_mum().cs(&kid, &m, V2, &ago(30)),
        &[("BIRTH_NOT_IN_PIS", T2, schild(&kid))],
    );
    t.check(
        "raised: certificate and CS paired by csyxzmbh: CS township, both keys",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V3, &ago(20))
            .csyxzmbh_cs(B1),
        &[("BIRTH_NOT_IN_PIS", T3, scert_child(B1, &kid))],
    );
    t.check(
        "raised: certificate and CS paired by mother, date and sex: one ticket, both keys",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V3, &ago(20)),
        &[("BIRTH_NOT_IN_PIS", T3, scert_child(B1, &kid))],
    );
    t.check(
        "raised: certificate residence outside the city but CS row inside",
        world()
            .birth_cert(B1, None, M, &b30, &stranger_mum(), ELSEWHERE)
            .cs(&kid, &stranger_mum(), V2, &ago(20)),
        &[("BIRTH_NOT_IN_PIS", T2, scert_child(B1, &kid))],
    );
    t.check(
        "benign: birth outside the city (residence elsewhere, no CS)",
        world().birth_cert(B1, None, M, &b30, &stranger_mum(), ELSEWHERE),
        &[],
    );
    t.check(
        "benign: a moved-out (zt 2) record with the certificate number denotes the birth",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈小明", M, &b30, V1)
            .csyxzmbh(B1)
            .zt(2),
        &[],
    );
    t.check(
        "benign: a dead (zt 3) record with the child's ID denotes the birth (CS within grace)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V1, &ago(20))
            .pis_of("RK9", &kid, V1)
            .zt(3),
        &[],
    );
    t.check(
        "raised: zt 3 record denotes the birth, so the living child is RESIDENT_MISSING instead",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .cs(&kid, &m, V2, &ago(30))
            .pis_of("RK9", &kid, V1)
            .zt(3),
        &[("RESIDENT_MISSING", T2, sid(&kid))],
    );
    t.check("benign: a record without sfzh denotes the birth by mqSfzh (full-width, padded), csrq and xb",
        with_mum().birth_cert(B1, None, M, &b30, &m, V1).pis("RK9", "", "陈小明", M, &b30, V1).mq(&format!(" {} ", full_width(&m.id))),
        &[]);
    t.check(
        "benign: mother/date match but the record's sex differs: not the birth (and a PHANTOM)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈小红", F, &b30, V1)
            .mq(&m.id),
        &[
            ("BIRTH_NOT_IN_PIS", T1, scert(B1)),
            ("PHANTOM_RECORD", T1, spid("RK9")),
        ],
    );
    t.check(
        "raised: a deleted record does not count",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈小明", M, &b30, V1)
            .csyxzmbh(B1)
            .deleted(),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "benign: voided certificate (version 2 VOID, dated before D)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(10)),
        &[],
    );
    t.check(
        "raised: void version dated after D does not count yet",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(-1)),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "raised: voided then re-issued VALID on or before D",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(20))
            .version(B1, 3, "VALID", &ago(0)),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "benign: voided, re-issue dated after D does not count yet",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .version(B1, 2, "VOID", &ago(20))
            .version(B1, 3, "VALID", &ago(-1)),
        &[],
    );

    // Twins: same mother, date, sex.
    t.check(
        "raised: unnamed twins: the one record pairs with the lower certificate number",
        with_mum()
            .birth_cert(B2, None, M, &b30, &m, V1)
            .birth_cert(B1, None, M, &b30, &m, V1)
            .pis("RK9", "", "陈大宝", M, &b30, V1)
            .mq(&m.id),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B2))],
    );
    t.check(
        "raised: named twins: the record pairs by (normalised) name",
        with_mum()
            .birth_cert(B1, Some("陈大宝"), M, &b30, &m, V1)
            .birth_cert(B2, Some("陈二宝"), M, &b30, &m, V1)
            .pis("RK9", "", "陈 二宝", M, &b30, V1)
            .mq(&m.id),
        &[("BIRTH_NOT_IN_PIS", T1, scert(B1))],
    );
    t.check(
        "benign: named twins each with a record (records in reverse personId order)",
        with_mum()
            .birth_cert(B1, Some("陈大宝"), M, &b30, &m, V1)
            .birth_cert(B2, Some("陈二宝"), M, &b30, &m, V1)
            .pis("RK8", "", "陈二宝", M, &b30, V1)
            .mq(&m.id)
            .pis("RK9", "", "陈大宝", M, &b30, V1)
            .mq(&m.id),
        &[],
    );
    let twin1 = man("陈大", &b30, 1);
    let twin2 = man("陈二", &b30, 2);
    t.check(
        "raised: unnamed certificates pair with CS rows in lsh text order (L10 before L9)",
        with_mum()
            .birth_cert(B1, None, M, &b30, &m, V1)
            .birth_cert(B2, None, M, &b30, &m, V1)
            .cs(&twin1, &m, V2, &ago(20))
            .lsh("L9")
            .cs(&twin2, &m, V3, &ago(20))
            .lsh("L10")
            .pis_of("RK9", &twin2, V3),
        // B1 ↔ twin2 (L10) is denoted by RK9; B2 ↔ twin1 (L9) is not.
        &[("BIRTH_NOT_IN_PIS", T2, scert_child(B2, &twin1))],
    );
    t.check(
        "raised: named certificates pair with CS rows by name, not by lsh order",
        with_mum()
            .birth_cert(B1, Some("陈二"), M, &b30, &m, V1)
            .birth_cert(B2, Some("陈 大"), M, &b30, &m, V1)
            .cs(&twin1, &m, V2, &ago(20))
            .lsh("L1")
            .cs(&twin2, &m, V3, &ago(20))
            .lsh("L2")
            .pis_of("RK9", &twin1, V2),
        // B2 ↔ twin1 (陈大) is denoted by RK9; B1 ↔ twin2 (陈二) is not.
        &[("BIRTH_NOT_IN_PIS", T3, scert_child(B1, &twin2))],
    );
    t.finish();
}

#[test]
fn rules_birth_not_registered() {
    let mut t = Table::default();
    let m = mum();
    let b60 = ago(60);
    const B1: &str = "B000000001";
    // A record that denotes the birth, so that BIRTH_NOT_IN_PIS stays quiet.
    let base = |birth: &str, mother: &P, residence: &str| {
        let mut w = with_mum();
        w.birth_cert(B1, None, F, birth, mother, residence)
            .pis("RK9", "", "陈小红", F, birth, V1)
            .csyxzmbh(B1);
        w
    };

    t.check(
        "raised: birth on D-60, no CS row: routed to the mother's PSB township",
        &base(&b60, &m, V2),
        &[("BIRTH_NOT_REGISTERED", T1, scert(B1))],
    );
    t.check(
        "benign: birth on D-59 is within the 60-day grace",
        &base(&ago(59), &m, V2),
        &[],
    );
    t.check(
        "raised: mother unknown to psb: routed to the residence township",
        &base(&b60, &stranger_mum(), V2),
        &[("BIRTH_NOT_REGISTERED", T2, scert(B1))],
    );
    t.check(
        "raised: and with no PIS record either, both birth tickets",
        with_mum().birth_cert(B1, None, F, &b60, &m, V2),
        &[
            ("BIRTH_NOT_REGISTERED", T1, scert(B1)),
            ("BIRTH_NOT_IN_PIS", T1, scert(B1)),
        ],
    );
    let kid = woman("陈小红", &b60, 1);
    t.check(
        "benign: a CS row pairs with the certificate (by mother, date, sex)",
        base(&b60, &m, V2).cs(&kid, &m, V1, &ago(10)),
        &[],
    );
    t.check(
        "benign: voided certificate (its record now denotes no birth: PHANTOM_RECORD)",
        base(&b60, &m, V2).version(B1, 2, "VOID", &ago(5)),
        &[("PHANTOM_RECORD", T1, spid("RK9"))],
    );
    t.check(
        "raised: a void version dated after D does not count",
        base(&b60, &m, V2).version(B1, 2, "VOID", &ago(-2)),
        &[("BIRTH_NOT_REGISTERED", T1, scert(B1))],
    );
    t.check(
        "benign: certificate of another city",
        &base(&b60, &stranger_mum(), ELSEWHERE),
        &[],
    );
    t.check(
        "raised: the mother's PSB township is that of her latest row (QR into T3)",
        world()
            .psb("CSH", &m, V1, "2010-01-01")
            .psb("QR", &m, V3, &ago(200))
            .pis_of("RKM", &m, V3)
            .birth_cert(B1, None, F, &b60, &m, V2)
            .pis("RK9", "", "陈小红", F, &b60, V1)
            .csyxzmbh(B1),
        &[("BIRTH_NOT_REGISTERED", T3, scert(B1))],
    );
    t.finish();
}
