//! `PHANTOM_RECORD`, `INVALID_ID` and `IDENTITY_MISMATCH` (src:
//! `reconcile/rules/identity.rs`).

use super::harness::*;

#[test]
fn rules_phantom_record() {
    let mut t = Table::default();
    let nobody = man("孙七", "1990-01-01", 5);
    let phantom = |pid: &str| {
        (
            "PHANTOM_RECORD",
            T1,
            sphantom(pid, &man("孙七", "1990-01-01", 5).id),
        )
    };

    t.check(
        "raised: a valid ID that is no PSB person's, consistent with csrq and xb",
        world().pis_of("RK1", &nobody, V1),
        &[phantom("RK1")],
    );
    t.check(
        "raised: same, typed as a legacy 15-digit ID: subject holds the normalised ID",
        world().pis(
            "RK1",
            &legacy15(&nobody.id),
            &nobody.name,
            M,
            &nobody.birth,
            V1,
        ),
        &[phantom("RK1")],
    );
    t.check(
        "raised: no sfzh, no birth, csrq on D-30",
        world().pis("RK1", "", "无名", F, &ago(30), V1),
        &[("PHANTOM_RECORD", T1, spid("RK1"))],
    );
    t.check(
        "benign: no sfzh, csrq on D-29",
        world().pis("RK1", "", "无名", F, &ago(29), V1),
        &[],
    );
    let m = mum();
    t.check(
        "benign: no sfzh, denotes a birth by mother, date and sex",
        with_mum()
            .birth_cert("B000000001", None, F, &ago(40), &m, V1)
            .pis("RK1", "", "陈小红", F, &ago(40), V1)
            .mq(&m.id),
        &[],
    );
    t.check(
        "precedence: valid ID of nobody contradicting csrq: INVALID_ID, not PHANTOM_RECORD",
        world().pis("RK1", &nobody.id, &nobody.name, M, "1990-01-02", V1),
        &[("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "precedence: an invalid ID: INVALID_ID only",
        world().pis(
            "RK1",
            &wrong_check(&nobody.id),
            &nobody.name,
            M,
            &nobody.birth,
            V1,
        ),
        &[("INVALID_ID", T1, spid("RK1"))],
    );
    t.check(
        "precedence: the ID has death evidence within grace: nothing",
        world()
            .pis_of("RK1", &nobody, V1)
            .cremation("HH1", &nobody, &ago(10), &ago(9)),
        &[],
    );
    t.check(
        "precedence: the ID has overdue death evidence: DEATH_NOT_RECORDED only",
        world()
            .pis_of("RK1", &nobody, V1)
            .death_cert("D1", &nobody, &ago(30)),
        &[("DEATH_NOT_RECORDED", T1, sid(&nobody))],
    );
    t.check(
        "benign: moved-out record (zt 2)",
        world().pis_of("RK1", &nobody, V1).zt(2),
        &[],
    );
    t.check(
        "benign: dead record (zt 3)",
        world().pis_of("RK1", &nobody, V1).zt(3),
        &[],
    );
    t.check(
        "benign: deleted record",
        world().pis_of("RK1", &nobody, V1).deleted(),
        &[],
    );
    t.check(
        "raised: the person's only psb row is dated after D",
        world()
            .psb("QR", &nobody, V1, &ago(-2))
            .pis_of("RK1", &nobody, V1),
        &[phantom("RK1")],
    );
    t.check("benign: the person is a PSB person (record in another township: RESIDENCE_MISMATCH instead)",
        world().psb("CSH", &nobody, V2, "2010-01-01").pis_of("RK1", &nobody, V1),
        &[("RESIDENCE_MISMATCH", T1, sid(&nobody))]);
    t.finish();
}

#[test]
fn rules_invalid_id() {
    let mut t = Table::default();
    let p = zhang();
    let resident = || {
        let mut w = world();
        w.psb("CSH", &zhang(), V1, "2010-01-01");
        w
    };
    let inv = |town: &'static str| ("INVALID_ID", town, spid("RK1"));
    // These records match no PSB person, so RESIDENT_MISSING would stand beside them:
    // use someone else's name so that no suggestion is made.
    let rm = ("RESIDENT_MISSING", T1, sid(&p));

    for (how, sfzh) in [
        ("a wrong check character", wrong_check(&p.id)),
        ("17 characters", p.id[..17].to_string()),
        ("an impossible date", make_id(COUNTY, "19810230", 11)),
        ("letters", "3499011980ABCD1234".to_string()),
        ("a 15-digit ID with a letter", "34990180030401X".to_string()),
    ] {
        t.check(
            &format!("raised: {how}"),
            resident().pis("RK1", &sfzh, "某人", M, &p.birth, V1),
            &[inv(T1), rm.clone()],
        );
    }
    t.check(
        "raised: routed to the record's township",
        resident().pis("RK1", &wrong_check(&p.id), "某人", M, &p.birth, V3),
        &[inv(T3), rm.clone()],
    );
    let px = P::with_x("王五", M, "1972-08-18", 0);
    for (how, sfzh) in [
        ("lower-case x", px.id.to_lowercase()),
        ("full-width digits and Ｘ", full_width(&px.id)),
        ("legacy 15 digits", legacy15(&px.id)),
        ("surrounding spaces", format!("  {}\u{3000}", px.id)),
    ] {
        t.check(
            &format!("benign: a PSB person's ID typed with {how}"),
            world()
                .psb("CSH", &px, V1, "2010-01-01")
                .pis("RK1", &sfzh, &px.name, M, &px.birth, V1),
            &[],
        );
    }
    let nobody = woman("孙七", "1990-01-01", 5);
    t.check(
        "raised: valid ID of nobody that contradicts the record's xb",
        world().pis("RK1", &nobody.id, &nobody.name, M, &nobody.birth, V1),
        &[inv(T1)],
    );
    t.check(
        "raised: valid ID of nobody that contradicts the record's csrq",
        world().pis("RK1", &nobody.id, &nobody.name, F, "1991-01-01", V1),
        &[inv(T1)],
    );
    t.check("precedence: a PSB person's ID with a contradicting csrq: IDENTITY_MISMATCH, not INVALID_ID",
        resident().pis("RK1", &p.id, &p.name, M, "1980-03-05", V1), &[("IDENTITY_MISMATCH", T1, sid(&p))]);
    t.check(
        "benign: moved-out record (zt 2)",
        resident()
            .pis("RK1", &wrong_check(&p.id), "某人", M, &p.birth, V1)
            .zt(2),
        std::slice::from_ref(&rm),
    );
    t.check(
        "benign: deleted record",
        resident()
            .pis("RK1", &wrong_check(&p.id), "某人", M, &p.birth, V1)
            .deleted(),
        std::slice::from_ref(&rm),
    );
    t.check(
        "benign: empty sfzh is not INVALID_ID (a young child without a birth: PHANTOM_RECORD)",
        world().pis("RK1", "  ", "某人", M, "2014-01-01", V1),
        &[("PHANTOM_RECORD", T1, spid("RK1"))],
    );
    t.finish();
}

#[test]
fn rules_identity_mismatch() {
    let mut t = Table::default();
    let p = zhang();
    let resident = |who: &P| {
        let mut w = world();
        w.psb("CSH", who, V1, "2010-01-01");
        w
    };
    let im = |who: &P, town: &'static str| ("IDENTITY_MISMATCH", town, sid(who));

    t.check(
        "raised: name differs",
        resident(&p).pis("RK1", &p.id, "张四", M, &p.birth, V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: xb differs",
        resident(&p).pis("RK1", &p.id, &p.name, F, &p.birth, V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: csrq differs",
        resident(&p).pis("RK1", &p.id, &p.name, M, "1980-04-03", V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: routed to the record's township (another village, same township)",
        resident(&p).pis("RK1", &p.id, "张四", M, &p.birth, V1B),
        &[im(&p, T1)],
    );
    for name in [
        " 张三 ",
        "张 三",
        "张\u{3000}三",
        "\u{3000}张三\u{3000}",
        "张\u{00a0}三",
    ] {
        t.check(
            &format!("benign: name {name:?} normalises to 张三"),
            resident(&p).pis("RK1", &p.id, name, M, &p.birth, V1),
            &[],
        );
    }
    let q = man("买买提·艾力", "1985-06-07", 1);
    for name in [
        "买买提.艾力",
        "买买提•艾力",
        "买买提・艾力",
        "买买提‧艾力",
        "买买提．艾力",
        "买买提∙艾力",
        " 买买提 · 艾力 ",
    ] {
        t.check(
            &format!("benign: middle-dot variant {name:?}"),
            resident(&q).pis("RK1", &q.id, name, M, &q.birth, V1),
            &[],
        );
    }
    t.check(
        "benign: psb typed the dot as '.', the register as '·'",
        resident(&q.named("买买提.艾力")).pis_of("RK1", &q, V1),
        &[],
    );
    t.check(
        "raised: a different minority name",
        resident(&q).pis("RK1", &q.id, "买买提·阿力", M, &q.birth, V1),
        &[im(&q, T1)],
    );

    // BG corrections within grace.
    let renamed = p.named("张叁");
    t.check(
        "benign: BG within grace (D-29), record shows the identity before it",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(29))
            .pis_of("RK1", &p, V1),
        &[],
    );
    t.check(
        "benign: BG within grace, record shows the corrected identity",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(29))
            .pis_of("RK1", &renamed, V1),
        &[],
    );
    t.check(
        "raised: BG within grace, record shows neither identity",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(29))
            .pis("RK1", &p.id, "张四", M, &p.birth, V1),
        &[im(&p, T1)],
    );
    t.check(
        "raised: BG overdue (D-30), record shows the identity before it",
        resident(&p)
            .psb("BG", &renamed, V1, &ago(30))
            .pis_of("RK1", &p, V1),
        &[im(&p, T1)],
    );
    t.check(
        "benign: BG correcting csrq within grace, record shows the old csrq",
        resident(&p)
            .psb("BG", &p.born("1980-04-03"), V1, &ago(5))
            .pis_of("RK1", &p, V1),
        &[],
    );
    t.check(
        "benign: BG correcting xb within grace, record shows the old xb",
        resident(&p)
            .psb("BG", &p.sexed(F), V1, &ago(5))
            .pis_of("RK1", &p, V1),
        &[],
    );
    let b = p.named("张叁");
    let c = p.named("张参");
    for (shown, want) in [
        (&p, vec![]),
        (&b, vec![]),
        (&c, vec![]),
        (&p.named("张四"), vec![im(&p, T1)]),
    ] {
        t.check(
            &format!("two BGs within grace, record shows {}", shown.name),
            resident(&p)
                .psb("BG", &b, V1, &ago(20))
                .psb("BG", &c, V1, &ago(10))
                .pis_of("RK1", shown, V1),
            &want,
        );
    }
    for (shown, want) in [(&p, vec![im(&p, T1)]), (&b, vec![]), (&c, vec![])] {
        t.check(
            &format!(
                "BG overdue then BG within grace, record shows {}",
                shown.name
            ),
            resident(&p)
                .psb("BG", &b, V1, &ago(40))
                .psb("BG", &c, V1, &ago(10))
                .pis_of("RK1", shown, V1),
            &want,
        );
    }

    t.check(
        "precedence: death evidence within grace: no IDENTITY_MISMATCH",
        resident(&p)
            .pis("RK1", &p.id, "张四", M, &p.birth, V1)
            .cremation("HH1", &p, &ago(10), &ago(9)),
        &[],
    );
    t.check(
        "precedence: QC within grace: no IDENTITY_MISMATCH",
        resident(&p)
            .pis("RK1", &p.id, "张四", M, &p.birth, V1)
            .psb("QC", &p, V1, &ago(10)),
        &[],
    );
    t.check(
        "raised: records in two townships: one in each (and RESIDENCE, DUPLICATE beside)",
        resident(&p)
            .pis("RK1", &p.id, "张四", M, &p.birth, V1)
            .pis("RK2", &p.id, "张四", M, &p.birth, V2),
        &[
            im(&p, T1),
            im(&p, T2),
            ("RESIDENCE_MISMATCH", T2, sid(&p)),
            ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"])),
        ],
    );
    let m = mum();
    let kid = man("陈小明", &ago(120), 1);
    t.check(
        "raised: a child's record without sfzh denotes them through the birth",
        with_mum()
            .birth_cert("B000000001", None, M, &kid.birth, &m, V1)
            .cs(&kid, &m, V1, &ago(100))
            .pis("RK9", "", "陈晓明", M, &kid.birth, V1)
            .csyxzmbh("B000000001"),
        &[im(&kid, T1)],
    );
    t.finish();
}
