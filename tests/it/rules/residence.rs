//! `MOVE_OUT_NOT_RECORDED`, `MOVE_IN_NOT_RECORDED`, `RESIDENCE_MISMATCH` and
//! `RESIDENT_MISSING` (src: `reconcile/rules/residence.rs`).

use super::harness::*;

#[test]
fn rules_move_out_not_recorded() {
    let mut t = Table::default();
    let p = elder();
    let out = |town: &'static str| ("MOVE_OUT_NOT_RECORDED", town, sid(&elder()));

    t.check(
        "raised: QC on D-30",
        with_elder().psb("QC", &p, V1, &ago(30)),
        &[out(T1)],
    );
    t.check(
        "benign: QC on D-29",
        with_elder().psb("QC", &p, V1, &ago(29)),
        &[],
    );
    t.check(
        "benign: QC dated after D is ignored",
        with_elder().psb("QC", &p, V1, &ago(-3)),
        &[],
    );
    t.check(
        "benign: the record is already moved out (zt 2)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis_of("RK1", &p, V1)
            .zt(2)
            .psb("QC", &p, V1, &ago(60)),
        &[],
    );
    t.check(
        "benign: moved out and back in (QR later)",
        with_elder()
            .psb("QC", &p, V1, &ago(200))
            .psb("QR", &p, V1, &ago(100)),
        &[],
    );
    t.check(
        "raised: same ywrq, QC recorded later (djsj) is the current state",
        with_elder()
            .psb("QR", &p, V1, &ago(40))
            .djsj(&format!("{} 09:00:00", ago(40)))
            .psb("QC", &p, V1, &ago(40))
            .djsj(&format!("{} 15:00:00", ago(40))),
        &[out(T1)],
    );
    t.check(
        "benign: same ywrq, QR recorded later (djsj) is the current state",
        with_elder()
            .psb("QC", &p, V1, &ago(40))
            .djsj(&format!("{} 09:00:00", ago(40)))
            .psb("QR", &p, V1, &ago(40))
            .djsj(&format!("{} 15:00:00", ago(40))),
        &[],
    );
    t.check(
        "raised: records in two townships: one ticket each, no RESIDENCE or IDENTITY beside",
        with_elder()
            .pis("RK2", &p.id, "赵九", M, &p.birth, V2)
            .psb("QC", &p, V1, &ago(30)),
        &[
            out(T1),
            out(T2),
            ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"])),
        ],
    );
    t.check(
        "precedence: QC within grace: off the register, no IDENTITY/RESIDENCE/MARITAL",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis("RK1", &p.id, "赵九", F, &p.birth, V2)
            .hyzk("10")
            .marriage("JH1", "结婚", &p, &woman("某", "1952-01-01", 1), &ago(400))
            .psb("QC", &p, V1, &ago(10)),
        &[],
    );
    t.finish();
}

#[test]
fn rules_move_in_not_recorded() {
    let mut t = Table::default();
    let p = elder();
    let min = |town: &'static str| ("MOVE_IN_NOT_RECORDED", town, sid(&elder()));

    t.check(
        "raised: QR into T2 on D-30, record still in T1 (no RESIDENCE_MISMATCH)",
        with_elder().psb("QR", &p, V2, &ago(30)),
        &[min(T2)],
    );
    t.check(
        "benign: QR on D-29",
        with_elder().psb("QR", &p, V2, &ago(29)),
        &[],
    );
    t.check(
        "benign: an active record in the destination township (another village)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .psb("QR", &p, "349901002007", &ago(60))
            .pis_of("RK2", &p, V2),
        &[],
    );
    t.check(
        "benign: destination record present, stale record left in T1",
        with_elder()
            .psb("QR", &p, V2, &ago(60))
            .pis_of("RK2", &p, V2),
        // Equal modifiedTime: the larger personId (RK2, in T2) decides.
        &[("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"]))],
    );
    t.check(
        "raised: the destination record is moved out (zt 2)",
        with_elder()
            .psb("QR", &p, V2, &ago(60))
            .pis_of("RK2", &p, V2)
            .zt(2),
        &[min(T2)],
    );
    t.check(
        "benign: death evidence (even within grace)",
        with_elder()
            .psb("QR", &p, V2, &ago(60))
            .cremation("HH1", &p, &ago(5), &ago(3)),
        &[],
    );
    t.check(
        "raised: newcomer from another county with no record anywhere: not RESIDENT_MISSING",
        world().psb("QR", &p, V3, &ago(30)),
        &[min(T3)],
    );
    t.check(
        "benign: newcomer within grace: not RESIDENT_MISSING either",
        world().psb("QR", &p, V3, &ago(29)),
        &[],
    );
    t.check(
        "benign: move between villages of one township",
        with_elder().psb("QR", &p, V1B, &ago(60)),
        &[],
    );
    t.finish();
}

#[test]
fn rules_residence_mismatch() {
    let mut t = Table::default();
    let p = zhang();
    let on_register = || {
        let mut w = world();
        w.psb("CSH", &zhang(), V1, "2010-01-01");
        w
    };
    let res = |town: &'static str| ("RESIDENCE_MISMATCH", town, sid(&zhang()));

    t.check(
        "raised: hukou in T1, record in T2",
        on_register().pis_of("RK1", &p, V2),
        &[res(T2)],
    );
    t.check(
        "benign: another village of the same township",
        on_register().pis_of("RK1", &p, V1B),
        &[],
    );
    t.check(
        "benign: the T2 record is moved out (zt 2): the person is RESIDENT_MISSING instead",
        on_register().pis_of("RK1", &p, V2).zt(2),
        &[("RESIDENT_MISSING", T1, sid(&p))],
    );
    t.check(
        "raised: records in T1 and T2: only the T2 one",
        on_register().pis_of("RK1", &p, V1).pis_of("RK2", &p, V2),
        &[res(T2), ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"]))],
    );
    t.check(
        "raised: records in T2 and T3: one ticket in each",
        on_register().pis_of("RK1", &p, V2).pis_of("RK2", &p, V3),
        &[
            res(T2),
            res(T3),
            ("DUPLICATE_RECORD", T3, spids(&["RK1", "RK2"])),
        ],
    );
    t.check(
        "precedence: death evidence within grace: no RESIDENCE_MISMATCH",
        on_register()
            .pis_of("RK1", &p, V2)
            .cremation("HH1", &p, &ago(10), &ago(8)),
        &[],
    );
    t.check(
        "precedence: QC within grace: no RESIDENCE_MISMATCH",
        on_register()
            .pis_of("RK1", &p, V2)
            .psb("QC", &p, V1, &ago(10)),
        &[],
    );
    t.check(
        "benign: latest event a QR within grace (into T1, record in T2)",
        world()
            .psb("CSH", &p, V3, "2010-01-01")
            .psb("QR", &p, V1, &ago(29))
            .pis_of("RK1", &p, V2),
        &[],
    );
    t.check(
        "raised: latest event an overdue QR: MOVE_IN_NOT_RECORDED, not RESIDENCE_MISMATCH",
        world()
            .psb("CSH", &p, V3, "2010-01-01")
            .psb("QR", &p, V1, &ago(30))
            .pis_of("RK1", &p, V2),
        &[("MOVE_IN_NOT_RECORDED", T1, sid(&p))],
    );
    t.check(
        "benign: a BG after the QR keeps the QR's township (record in T2)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .psb("QR", &p, V2, &ago(100))
            .psb("BG", &p, V2, &ago(50))
            .pis_of("RK1", &p, V2),
        &[],
    );
    t.check(
        "raised: after QR and BG, a record left in the old township",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .psb("QR", &p, V2, &ago(100))
            .psb("BG", &p, V2, &ago(50))
            .pis_of("RK1", &p, V1),
        &[res(T1)],
    );
    t.check(
        "raised: stands beside IDENTITY_MISMATCH on the same record",
        on_register().pis("RK1", &p.id, "张四", M, &p.birth, V2),
        &[res(T2), ("IDENTITY_MISMATCH", T2, sid(&p))],
    );
    t.finish();
}

#[test]
fn rules_resident_missing() {
    let mut t = Table::default();
    let p = zhang();
    let on_register = || {
        let mut w = world();
        w.psb("CSH", &zhang(), V1, "2010-01-01");
        w
    };
    let rm = |who: &P, town: &'static str| ("RESIDENT_MISSING", town, sid(who));

    t.check(
        "raised: on the register, no record at all",
        &on_register(),
        &[rm(&p, T1)],
    );
    t.check(
        "raised: the only record is moved out (zt 2)",
        on_register().pis_of("RK1", &p, V1).zt(2),
        &[rm(&p, T1)],
    );
    t.check(
        "raised: the only record is dead (zt 3)",
        on_register().pis_of("RK1", &p, V1).zt(3),
        &[rm(&p, T1)],
    );
    t.check(
        "raised: the only record is deleted",
        on_register().pis_of("RK1", &p, V1).deleted(),
        &[rm(&p, T1)],
    );
    t.check(
        "benign: a record with the ID full-width and padded",
        on_register().pis(
            "RK1",
            &format!(" {}\u{3000}", full_width(&p.id)),
            &p.name,
            M,
            &p.birth,
            V1,
        ),
        &[],
    );
    t.check(
        "benign: death evidence within grace",
        on_register().death_cert("D1", &p, &ago(3)),
        &[],
    );
    t.check(
        "benign: QC within grace",
        on_register().psb("QC", &p, V1, &ago(3)),
        &[],
    );
    t.check(
        "raised: after a BG (not CS/QR) within grace",
        on_register().psb("BG", &p, V2, &ago(3)),
        &[rm(&p, T2)],
    );
    let m = mum();
    let kid = man("陈小明", &ago(100), 1);
    // The birth is denoted (a zt-3 record), so BIRTH_NOT_IN_PIS does not cover the child.
    let born = |ywrq: &str| {
        let mut w = with_mum();
        w.cs(&kid, &m, V2, ywrq).pis_of("RK9", &kid, V2).zt(3);
        w
    };
    t.check(
        "benign: latest event a CS within grace",
        &born(&ago(29)),
        &[],
    );
    t.check(
        "raised: latest event a CS on D-30",
        &born(&ago(30)),
        &[rm(&kid, T2)],
    );

    // Suppression by an INVALID_ID record, and its suggestion.
    let typo = wrong_check(&p.id);
    t.check("suppressed: INVALID_ID record in the PSB township with the same name/csrq/xb carries the suggestion",
        on_register().pis("RK1", &typo, " 张　三 ", M, &p.birth, V1B), &[("INVALID_ID", T1, spid_suggest("RK1", &p))]);
    t.check(
        "not suppressed: the INVALID_ID record is in another township",
        on_register().pis("RK1", &typo, "张三", M, &p.birth, V2),
        &[rm(&p, T1), ("INVALID_ID", T2, spid("RK1"))],
    );
    t.check(
        "not suppressed: the INVALID_ID record's name differs",
        on_register().pis("RK1", &typo, "张山", M, &p.birth, V1),
        &[rm(&p, T1), ("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "not suppressed: the INVALID_ID record's csrq differs",
        on_register().pis("RK1", &typo, "张三", M, "1980-03-05", V1),
        &[rm(&p, T1), ("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "not suppressed: the matching record is deleted (no INVALID_ID for it)",
        on_register()
            .pis("RK1", &typo, "张三", M, &p.birth, V1)
            .deleted(),
        &[rm(&p, T1)],
    );
    let twin_name = man("张三", "1980-03-04", 9);
    t.check(
        "suppressed, no suggestion: two people with the same name and birth date match the record",
        on_register()
            .psb("CSH", &twin_name, V1B, "2010-01-01")
            .pis("RK1", &typo, "张三", M, &p.birth, V1),
        &[("INVALID_ID", T1, spid("RK1"))],
    );
    let other_valid = make_id(COUNTY, "19790101", 11);
    t.check(
        "suppressed: a valid ID of nobody that contradicts the record's csrq, with suggestion",
        on_register().pis("RK1", &other_valid, "张三", M, &p.birth, V1),
        &[("INVALID_ID", T1, spid_suggest("RK1", &p))],
    );
    t.check(
        "suppressed: record shows the identity before a BG still within grace",
        on_register()
            .psb("BG", &p.named("张叁"), V1, &ago(29))
            .pis("RK1", &typo, "张三", M, &p.birth, V1),
        &[("INVALID_ID", T1, spid_suggest("RK1", &p))],
    );
    t.check(
        "not suppressed: the BG is overdue, the record shows the old identity",
        on_register()
            .psb("BG", &p.named("张叁"), V1, &ago(30))
            .pis("RK1", &typo, "张三", M, &p.birth, V1),
        &[rm(&p, T1), ("INVALID_ID", T1, spid("RK1"))],
    );
    t.finish();
}
