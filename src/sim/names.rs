//! Chinese names, the city's townships and villages, and other real-looking codes.

use rand::rngs::SmallRng;
use rand::Rng;

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "方", "邹", "熊", "白", "孟", "秦", "邱", "侯", "江", "尹", "薛", "闫", "段", "雷",
    "欧阳",
];
const MALE: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宁", "俊", "浩", "宇", "帆", "凯", "健", "宏", "东", "成", "林", "振", "国", "文",
    "昊", "博", "彬", "利", "兴", "学", "欢", "泽", "晨", "远", "庆", "春", "光", "新",
];
const FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "婷", "雪", "慧", "颖", "琳", "洁",
    "红", "梅", "莉", "兰", "英", "萍", "云", "璐", "瑶", "月", "珍", "桂", "蕾", "彤", "怡", "佳",
    "淑", "欣", "雨", "倩", "晶", "秀", "凤", "涵",
];
const UYGUR_GIVEN_M: &[&str] = &[
    "艾力",
    "买买提",
    "阿不都",
    "吐尔逊",
    "努尔",
    "热合曼",
    "肉孜",
];
const UYGUR_GIVEN_F: &[&str] = &["古丽", "阿依古丽", "热依拉", "帕提古丽", "迪丽娜尔", "米娜"];
const UYGUR_FATHER: &[&str] = &["买买提", "艾则孜", "吐尔洪", "阿布拉", "依明", "司马义"];

/// A name for someone of the given sex (1 male, 2 female) and surname.
pub fn given(rng: &mut SmallRng, sex: u8) -> String {
    let pool = if sex == 1 { MALE } else { FEMALE };
    let mut s = String::from(pool[rng.random_range(0..pool.len())]);
    if rng.random_bool(0.6) {
        s.push_str(pool[rng.random_range(0..pool.len())]);
    }
    s
}

pub fn surname(rng: &mut SmallRng) -> &'static str {
    SURNAMES[rng.random_range(0..SURNAMES.len())]
}

pub fn full_name(rng: &mut SmallRng, sur: &str, sex: u8) -> String {
    format!("{sur}{}", given(rng, sex))
}

/// A Uygur-style name with a middle dot.
pub fn minority_name(rng: &mut SmallRng, sex: u8) -> String {
    let g = if sex == 1 {
        UYGUR_GIVEN_M
    } else {
        UYGUR_GIVEN_F
    };
    format!(
        "{}·{}",
        g[rng.random_range(0..g.len())],
        UYGUR_FATHER[rng.random_range(0..UYGUR_FATHER.len())]
    )
}

/// A different name of the same shape: one given character changed (a typo).
pub fn typo(rng: &mut SmallRng, name: &str, sex: u8) -> String {
    let pool = if sex == 1 { MALE } else { FEMALE };
    let mut chars: Vec<char> = name.chars().collect();
    let last = chars.len() - 1;
    loop {
        let c: char = pool[rng.random_range(0..pool.len())]
            .chars()
            .next()
            .unwrap_or('明');
        if c != chars[last] {
            chars[last] = c;
            return chars.into_iter().collect();
        }
    }
}

/// The twelve townships: four 街道 (001–004), six 镇 (101–106), two 乡 (201–202).
pub const TOWNSHIPS: &[(&str, &str)] = &[
    ("001", "城关街道"),
    ("002", "东湖街道"),
    ("003", "西岭街道"),
    ("004", "南门街道"),
    ("101", "青石镇"),
    ("102", "柳河镇"),
    ("103", "白沙镇"),
    ("104", "龙泉镇"),
    ("105", "杨桥镇"),
    ("106", "三河镇"),
    ("201", "桃源乡"),
    ("202", "梅岭乡"),
];
const PLACE: &[&str] = &[
    "店", "圩", "冲", "集", "畈", "塘", "山", "坡", "桥", "寨", "坝", "庄", "洼", "岗", "湾", "营",
    "河", "岭", "墩", "塘埂", "家庄", "家湾", "圩埂", "岗头",
];

/// A village (or, in a 街道, community) name.
pub fn village_name(rng: &mut SmallRng, urban: bool) -> String {
    let sur = SURNAMES[rng.random_range(0..SURNAMES.len() - 1)];
    let p = PLACE[rng.random_range(0..PLACE.len())];
    format!("{sur}{p}{}", if urban { "社区" } else { "村" })
}

/// Real-looking county codes of other places people come from or go to.
pub const OTHER_COUNTIES: &[&str] = &[
    "340102", "340111", "340302", "340603", "340702", "341002", "341102", "341202", "341302",
    "341702", "341802", "310104", "320583", "330106", "370102", "410105", "420106", "440305",
    "510107", "610113", "110105", "500103",
];

pub const FACILITIES: &[&str] = &[
    "澄湖市人民医院",
    "澄湖市第二人民医院",
    "澄湖市中医院",
    "澄湖市妇幼保健院",
];

pub const CITY: &str = "澄湖市";
pub const PROVINCE: &str = "安徽省";
pub const MARRIAGE_OFFICE: &str = "澄湖市民政局婚姻登记处";
pub const FUNERAL_HOME: &str = "澄湖市殡仪馆";
