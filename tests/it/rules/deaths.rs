//! `DEATH_NOT_RECORDED` (src: `reconcile/rules/deaths.rs`).

use super::harness::*;

#[test]
fn rules_death_not_recorded() {
    let mut t = Table::default();
    let p = elder();
    let dnr = |town: &'static str, who: &P| ("DEATH_NOT_RECORDED", town, sid(who));

    t.check(
        "raised: cremation, died on D-30 (cremated later)",
        with_elder().cremation("HH1", &p, &ago(30), &ago(27)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: died on D-29",
        with_elder().cremation("HH1", &p, &ago(29), &ago(27)),
        &[],
    );
    t.check(
        "raised: VALID death certificate, D-30",
        with_elder().death_cert("D1", &p, &ago(30)),
        &[dnr(T1, &p)],
    );
    t.check(
        "raised: psb SW dated by swrq (D-35), registered within grace",
        with_elder().sw(&p, V1, &ago(35), &ago(5)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: psb SW with swrq on D-29",
        with_elder().sw(&p, V1, &ago(29), &ago(5)),
        &[],
    );
    t.check(
        "raised: sources disagree: the earliest date counts",
        with_elder()
            .cremation("HH1", &p, &ago(29), &ago(27))
            .death_cert("D1", &p, &ago(31)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: cremation dated after D is ignored",
        with_elder().cremation("HH1", &p, &ago(40), &ago(-1)),
        &[],
    );
    t.check(
        "benign: SW row dated (ywrq) after D is ignored",
        with_elder().sw(&p, V1, &ago(40), &ago(-1)),
        &[],
    );
    t.check(
        "benign: voided death certificate",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(10)),
        &[],
    );
    t.check(
        "raised: void version dated after D does not count yet",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(-1)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: voided, re-issued after D",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(35))
            .version("D1", 3, "VALID", &ago(-1)),
        &[],
    );
    t.check(
        "raised: voided, re-issued on D",
        with_elder()
            .death_cert("D1", &p, &ago(40))
            .version("D1", 2, "VOID", &ago(35))
            .version("D1", 3, "VALID", &ago(0)),
        &[dnr(T1, &p)],
    );
    t.check(
        "benign: PIS record already dead (zt 3)",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis_of("RK1", &p, V1)
            .zt(3)
            .cremation("HH1", &p, &ago(40), &ago(38)),
        &[],
    );
    t.check(
        "benign: PIS record deleted",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis_of("RK1", &p, V1)
            .deleted()
            .cremation("HH1", &p, &ago(40), &ago(38)),
        &[],
    );

    // The record denotes the person whatever way its ID was typed.
    let px = P::with_x("钱七", M, "1951-07-08", 0);
    for (how, sfzh) in [
        ("legacy 15-digit", legacy15(&px.id)),
        ("lower-case x", px.id.to_lowercase()),
        ("full-width digits", full_width(&px.id)),
        (
            "surrounding and full-width spaces",
            format!("\u{3000} {} ", px.id),
        ),
    ] {
        t.check(
            &format!("raised: sfzh typed as {how}"),
            world()
                .psb("CSH", &px, V1, "2010-01-01")
                .pis("RK1", &sfzh, &px.name, M, &px.birth, V1)
                .cremation("HH1", &px, &ago(60), &ago(58)),
            &[dnr(T1, &px)],
        );
    }
    t.check(
        "raised: active records in two townships: one ticket in each (no RESIDENCE_MISMATCH)",
        with_elder()
            .pis_of("RK2", &p, V2)
            .cremation("HH1", &p, &ago(60), &ago(58)),
        &[
            dnr(T1, &p),
            dnr(T2, &p),
            ("DUPLICATE_RECORD", T2, spids(&["RK1", "RK2"])),
        ],
    );
    t.check(
        "precedence: dead: no IDENTITY, RESIDENCE or MARITAL ticket beside it",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis("RK1", &p.id, "赵九", M, &p.birth, V2)
            .hyzk("10")
            .marriage("JH1", "结婚", &p, &woman("某", "1952-01-01", 1), &ago(400))
            .cremation("HH1", &p, &ago(40), &ago(38)),
        &[dnr(T2, &p)],
    );
    t.check(
        "precedence: dead within grace: nothing at all yet",
        world()
            .psb("CSH", &p, V1, "2010-01-01")
            .pis("RK1", &p.id, "赵九", M, &p.birth, V2)
            .cremation("HH1", &p, &ago(10), &ago(8)),
        &[],
    );
    let outsider = man("外地人", "1949-02-02", 3);
    t.check(
        "raised: dead person unknown to psb: DEATH_NOT_RECORDED, never PHANTOM_RECORD",
        world()
            .pis_of("RK5", &outsider, V3)
            .cremation("HH1", &outsider, &ago(40), &ago(38)),
        &[dnr(T3, &outsider)],
    );
    t.check(
        "benign: unknown to psb, died within grace: no PHANTOM_RECORD either",
        world()
            .pis_of("RK5", &outsider, V3)
            .cremation("HH1", &outsider, &ago(10), &ago(8)),
        &[],
    );
    let m = mum();
    let kid = man("陈小明", &ago(120), 1);
    t.check(
        "raised: a dead child whose record (no sfzh) denotes the birth",
        with_mum()
            .birth_cert("B000000001", None, M, &kid.birth, &m, V1)
            .cs(&kid, &m, V1, &ago(100))
            .pis("RK9", "", &kid.name, M, &kid.birth, V2)
            .csyxzmbh("B000000001")
            .death_cert("D1", &kid, &ago(40)),
        &[dnr(T2, &kid)],
    );
    t.finish();
}
