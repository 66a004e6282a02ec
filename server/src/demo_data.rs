//! Demo chain data: a complete, realistic Chinese supermarket chain (鲜邻超市 / FreshNeighbour
//! Market) for demos, screenshots and manual testing.
//!
//! [`chain`] builds the whole data set as plain values: locations (head office, one warehouse,
//! four stores in 上海 and 杭州), a three-level category tree, several hundred products with
//! their SKUs, prices and valid EAN-13 barcodes, staff accounts, members and opening stock.
//! Fresh produce, meat and seafood are sold by weight: each weighed SKU also has a scale PLU
//! (`10001`…, [`FIRST_PLU`]) that the scales print into their labels (`20` + PLU + price, the
//! chain's default layout), and the packaged [`SAMPLE_BARCODE`] is the one the README scans.
//!
//! The module is pure and deterministic: there is no I/O, no database access and no random
//! number generator. Products are generated from curated tables (product line × brand ×
//! variant), and every "random-looking" figure (stock quantities, which SKUs get member or
//! store prices, which shelves are deliberately low) comes from a fixed-seed integer hash of
//! the SKU's position. Calling [`chain`] twice yields identical data, so tests and screenshots
//! are reproducible. Inserting the data into the database is the loader's job (`crate::demo`).
//!
//! **Demo only:** every staff account uses the well-known password `demo1234`. Never load this
//! data into a production database.

use retail_domain::barcode::gtin_check_digit;

/// The barcode the README and the demos scan: 农夫山泉饮用天然水 550ml.
pub const SAMPLE_BARCODE: &str = "6901234567892";

/// The scale PLU of the first weighed SKU (烟台红富士苹果, loose apples); the others follow in
/// catalog order (`10002` 海南香蕉, …).
pub const FIRST_PLU: u32 = 10001;

/// The product (brand + line) and variant that carries [`SAMPLE_BARCODE`].
const SAMPLE_SKU: (&str, &str, usize) = ("农夫山泉", "饮用天然水", 0);

/// What a location is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoLocationKind {
    /// The head office: administration only, holds no stock.
    HeadOffice,
    /// A distribution warehouse supplying the stores.
    Warehouse,
    /// A retail store with tills.
    Store,
}

/// A location of the demo chain.
#[derive(Debug, Clone)]
pub struct DemoLocation {
    /// Short location code, e.g. `"HQ"`, `"WH01"`, `"SH001"`.
    pub code: &'static str,
    /// Chinese name, e.g. `"人民广场店"`.
    pub name_zh: String,
    /// English name, e.g. `"People's Square Store"`.
    pub name_en: String,
    /// What the location is.
    pub kind: DemoLocationKind,
    /// City in Chinese, e.g. `"上海"`.
    pub city_zh: String,
    /// Full postal address in Chinese.
    pub address_zh: String,
}

/// A node of the three-level category tree.
#[derive(Debug, Clone)]
pub struct DemoCategory {
    /// Unique code; children extend their parent's code, e.g. `"FOOD"`, `"FOOD-SNACK"`,
    /// `"FOOD-SNACK-CHIPS"`.
    pub code: String,
    /// Parent category code, `None` for top-level categories. Parents always precede their
    /// children in [`DemoChain::categories`].
    pub parent: Option<String>,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// A sellable unit of a product (one size, flavour or colour).
#[derive(Debug, Clone)]
pub struct DemoSku {
    /// Unique SKU code: the product code, a dash and a two-digit variant number, e.g.
    /// `"200123-01"`.
    pub sku_code: String,
    /// Variant description in Chinese, e.g. `"500g"` or `"灰色 / 40-41"`.
    pub spec_zh: String,
    /// Variant description in English.
    pub spec_en: String,
    /// A valid, unique EAN-13 with a Chinese GS1 prefix (690–695).
    pub barcode: String,
    /// For weighed SKUs, the scale's PLU (five digits from [`FIRST_PLU`]): a second, internal
    /// code of the SKU that the scales print into their price labels. None for packaged SKUs.
    pub plu: Option<String>,
    /// Chain-wide price in fen; for weighed SKUs the price per kg.
    pub price_fen: i64,
    /// Member price in fen (always below `price_fen`), for about a fifth of the SKUs.
    pub member_price_fen: Option<i64>,
    /// Per-store price overrides `(store code, price in fen)` for a few SKUs.
    pub store_prices: Vec<(&'static str, i64)>,
    /// Selling unit, e.g. `"件"`, `"瓶"`, `"袋"`, or `"kg"` for weighed SKUs.
    pub unit: String,
    /// Sold by weight at a scale (fresh produce); `price_fen` is then per kg.
    pub weighed: bool,
}

/// A product with its SKUs.
#[derive(Debug, Clone)]
pub struct DemoProduct {
    /// Unique six-digit product code; the first digit is the top-level category (1 = 生鲜 …
    /// 8 = 家居).
    pub code: String,
    /// Chinese product name, e.g. `"农夫山泉饮用天然水"`.
    pub name_zh: String,
    /// English product name, e.g. `"Nongfu Spring Natural Drinking Water"`.
    pub name_en: String,
    /// Brand name in Chinese, e.g. `"农夫山泉"`; unbranded fresh produce uses the house brand
    /// `"鲜邻优选"`.
    pub brand: String,
    /// Code of the leaf category the product belongs to.
    pub category: String,
    /// Short Chinese description for the online shop.
    pub description_zh: String,
    /// One to three SKUs.
    pub skus: Vec<DemoSku>,
}

/// The role of a staff account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoRole {
    /// Head-office administrator with access to every location.
    HeadOfficeAdmin,
    /// Manager of one store.
    StoreManager,
    /// Cashier at one store.
    Cashier,
}

/// A staff login.
#[derive(Debug, Clone)]
pub struct DemoStaff {
    /// Login name, e.g. `"admin"`, `"mgr.sh001"`, `"cashier1.sh001"`.
    pub username: String,
    /// Display name in Chinese.
    pub display_name: String,
    /// The account's role.
    pub role: DemoRole,
    /// The store the account belongs to; `None` for head-office accounts.
    pub store: Option<&'static str>,
    /// Plain-text password to hash when loading. **Demo only**: always `"demo1234"`.
    pub password: &'static str,
}

/// A loyalty member.
#[derive(Debug, Clone)]
pub struct DemoMember {
    /// 11-digit mainland mobile number, e.g. `"13800138001"`.
    pub phone: String,
    /// Member's name in Chinese.
    pub name: String,
    /// Accumulated growth value (drives the member tier), 0 to 25 000.
    pub growth: i64,
    /// Redeemable points balance.
    pub points: i64,
    /// Stored-value balance in fen.
    pub balance_fen: i64,
}

/// Opening stock of one SKU at one location.
#[derive(Debug, Clone)]
pub struct DemoStock {
    /// Location code (the warehouse or a store; the head office holds no stock).
    pub location: &'static str,
    /// The SKU's code.
    pub sku_code: String,
    /// Quantity on hand in the SKU's unit, except for weighed SKUs (`DemoSku::weighed`),
    /// whose stock is counted in **grams** (e.g. 35 000 = 35 kg).
    pub on_hand: i64,
    /// Low-stock alert threshold, in the same unit as `on_hand` (grams for weighed SKUs). A
    /// handful of store rows are deliberately at or below it so low-stock alerts show.
    pub low_stock_threshold: i64,
}

/// The whole demo chain.
#[derive(Debug, Clone)]
pub struct DemoChain {
    /// Chain name in Chinese.
    pub chain_name_zh: String,
    /// Chain name in English.
    pub chain_name_en: String,
    /// Head office, warehouse and stores.
    pub locations: Vec<DemoLocation>,
    /// The category tree, parents before children.
    pub categories: Vec<DemoCategory>,
    /// All products; each attaches to a leaf category.
    pub products: Vec<DemoProduct>,
    /// Staff accounts.
    pub staff: Vec<DemoStaff>,
    /// Loyalty members.
    pub members: Vec<DemoMember>,
    /// Opening stock: every SKU at the warehouse and at every store.
    pub stock: Vec<DemoStock>,
    /// Recharge packages offered in the shop: (name, paid, bonus) in fen.
    pub recharge_packages: Vec<(&'static str, i64, i64)>,
}

/// Builds the demo chain. Pure and deterministic: every call returns the same data.
pub fn chain() -> DemoChain {
    let products = products();
    let stock = stock(&products);
    DemoChain {
        chain_name_zh: "鲜邻超市".to_string(),
        chain_name_en: "FreshNeighbour Market".to_string(),
        locations: locations(),
        categories: categories(),
        products,
        staff: staff(),
        members: members(),
        stock,
        recharge_packages: vec![
            ("充100送10", 10_000, 1_000),
            ("充200送30", 20_000, 3_000),
            ("充500送100", 50_000, 10_000),
        ],
    }
}

// ---------------------------------------------------------------------------------------------
// Locations and staff
// ---------------------------------------------------------------------------------------------

/// Demo-only password of every staff account.
const DEMO_PASSWORD: &str = "demo1234";

/// Demo-only lane PIN of every staff account (cashiers sign in at a lane with it; managers
/// approve voids and returns with it).
pub const DEMO_PIN: &str = "246810";

/// Code of the head office.
const HEAD_OFFICE: &str = "HQ";

/// Code of the warehouse.
const WAREHOUSE: &str = "WH01";

/// A store with its staff.
struct StoreDef {
    code: &'static str,
    name_zh: &'static str,
    name_en: &'static str,
    city_zh: &'static str,
    address_zh: &'static str,
    manager: &'static str,
    cashiers: [&'static str; 2],
}

const STORES: [StoreDef; 4] = [
    StoreDef {
        code: "SH001",
        name_zh: "人民广场店",
        name_en: "People's Square Store",
        city_zh: "上海",
        address_zh: "上海市黄浦区西藏中路268号",
        manager: "孙丽华",
        cashiers: ["林小燕", "何俊"],
    },
    StoreDef {
        code: "SH002",
        name_zh: "徐家汇店",
        name_en: "Xujiahui Store",
        city_zh: "上海",
        address_zh: "上海市徐汇区漕溪北路398号",
        manager: "吴国平",
        cashiers: ["罗佳怡", "高鹏"],
    },
    StoreDef {
        code: "SH003",
        name_zh: "张江店",
        name_en: "Zhangjiang Store",
        city_zh: "上海",
        address_zh: "上海市浦东新区张江路665号",
        manager: "郑晓东",
        cashiers: ["梁静", "宋宇航"],
    },
    StoreDef {
        code: "HZ001",
        name_zh: "杭州西湖店",
        name_en: "Hangzhou West Lake Store",
        city_zh: "杭州",
        address_zh: "浙江省杭州市西湖区文三路478号",
        manager: "冯雅琴",
        cashiers: ["沈梦婷", "钱浩然"],
    },
];

fn locations() -> Vec<DemoLocation> {
    let mut locations = vec![
        DemoLocation {
            code: HEAD_OFFICE,
            name_zh: "鲜邻超市总部".to_string(),
            name_en: "FreshNeighbour Market Head Office".to_string(),
            kind: DemoLocationKind::HeadOffice,
            city_zh: "上海".to_string(),
            address_zh: "上海市静安区江宁路168号12楼".to_string(),
        },
        DemoLocation {
            code: WAREHOUSE,
            name_zh: "嘉定物流中心".to_string(),
            name_en: "Jiading Distribution Centre".to_string(),
            kind: DemoLocationKind::Warehouse,
            city_zh: "上海".to_string(),
            address_zh: "上海市嘉定区嘉定工业区叶城路1288号".to_string(),
        },
    ];
    locations.extend(STORES.iter().map(|s| DemoLocation {
        code: s.code,
        name_zh: s.name_zh.to_string(),
        name_en: s.name_en.to_string(),
        kind: DemoLocationKind::Store,
        city_zh: s.city_zh.to_string(),
        address_zh: s.address_zh.to_string(),
    }));
    locations
}

fn staff() -> Vec<DemoStaff> {
    let mut staff = vec![DemoStaff {
        username: "admin".to_string(),
        display_name: "周建华".to_string(),
        role: DemoRole::HeadOfficeAdmin,
        store: None,
        password: DEMO_PASSWORD,
    }];
    for store in &STORES {
        let suffix = store.code.to_ascii_lowercase();
        staff.push(DemoStaff {
            username: format!("mgr.{suffix}"),
            display_name: store.manager.to_string(),
            role: DemoRole::StoreManager,
            store: Some(store.code),
            password: DEMO_PASSWORD,
        });
        for (i, cashier) in store.cashiers.iter().enumerate() {
            staff.push(DemoStaff {
                username: format!("cashier{}.{suffix}", i + 1),
                display_name: (*cashier).to_string(),
                role: DemoRole::Cashier,
                store: Some(store.code),
                password: DEMO_PASSWORD,
            });
        }
    }
    staff
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------

/// `(phone, name, growth, points, balance in fen)`.
const MEMBERS: [(&str, &str, i64, i64, i64); 8] = [
    ("13800138001", "张伟", 0, 0, 0),
    ("13800138002", "王芳", 1_200, 350, 5_000),
    ("13800138003", "李娜", 3_600, 1_280, 20_000),
    ("13800138004", "刘洋", 8_800, 4_200, 0),
    ("13800138005", "陈静", 12_500, 6_800, 50_000),
    ("13800138006", "杨磊", 18_000, 9_900, 12_880),
    ("13800138007", "赵敏", 25_000, 15_600, 100_000),
    ("13800138008", "黄志强", 560, 120, 0),
];

fn members() -> Vec<DemoMember> {
    MEMBERS
        .iter()
        .map(|&(phone, name, growth, points, balance_fen)| DemoMember {
            phone: phone.to_string(),
            name: name.to_string(),
            growth,
            points,
            balance_fen,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------

/// Top-level category codes; the position + 1 is the first digit of product codes.
const TOP_CATEGORIES: [&str; 8] = [
    "FRESH", "FOOD", "DRINK", "GRAIN", "HOUSE", "CARE", "BABY", "HOME",
];

/// `(code, parent, name_zh, name_en)`, parents before children.
#[rustfmt::skip]
const CATEGORIES: &[(&str, Option<&str>, &str, &str)] = &[
    ("FRESH", None, "生鲜", "Fresh"),
    ("FRESH-FRUIT", Some("FRESH"), "水果", "Fruit"),
    ("FRESH-VEG", Some("FRESH"), "蔬菜", "Vegetables"),
    ("FRESH-MEAT", Some("FRESH"), "肉禽蛋", "Meat, Poultry & Eggs"),
    ("FRESH-MEAT-PORK", Some("FRESH-MEAT"), "猪肉", "Pork"),
    ("FRESH-MEAT-BEEF", Some("FRESH-MEAT"), "牛羊肉", "Beef & Lamb"),
    ("FRESH-MEAT-POULTRY", Some("FRESH-MEAT"), "禽肉", "Poultry"),
    ("FRESH-MEAT-EGG", Some("FRESH-MEAT"), "蛋品", "Eggs"),
    ("FRESH-SEAFOOD", Some("FRESH"), "水产海鲜", "Seafood"),
    ("FOOD", None, "食品", "Food"),
    ("FOOD-SNACK", Some("FOOD"), "休闲零食", "Snacks"),
    ("FOOD-SNACK-CHIPS", Some("FOOD-SNACK"), "膨化薯片", "Chips & Puffs"),
    ("FOOD-SNACK-NUTS", Some("FOOD-SNACK"), "坚果炒货", "Nuts & Seeds"),
    ("FOOD-SNACK-CANDY", Some("FOOD-SNACK"), "糖果巧克力", "Candy & Chocolate"),
    ("FOOD-SNACK-JERKY", Some("FOOD-SNACK"), "肉干卤味", "Jerky & Braised Snacks"),
    ("FOOD-BISCUIT", Some("FOOD"), "饼干糕点", "Biscuits & Pastries"),
    ("FOOD-INSTANT", Some("FOOD"), "方便速食", "Instant & Frozen Food"),
    ("FOOD-INSTANT-NOODLE", Some("FOOD-INSTANT"), "方便面", "Instant Noodles"),
    ("FOOD-INSTANT-FROZEN", Some("FOOD-INSTANT"), "速冻食品", "Frozen Food"),
    ("FOOD-DAIRY", Some("FOOD"), "乳品", "Dairy"),
    ("FOOD-DAIRY-MILK", Some("FOOD-DAIRY"), "牛奶", "Milk"),
    ("FOOD-DAIRY-YOGURT", Some("FOOD-DAIRY"), "酸奶乳饮", "Yogurt & Dairy Drinks"),
    ("DRINK", None, "饮料酒水", "Drinks"),
    ("DRINK-WATER", Some("DRINK"), "饮用水", "Water"),
    ("DRINK-SOFT", Some("DRINK"), "饮料", "Soft Drinks"),
    ("DRINK-SOFT-TEA", Some("DRINK-SOFT"), "茶饮料", "Tea Drinks"),
    ("DRINK-SOFT-JUICE", Some("DRINK-SOFT"), "果汁乳饮", "Juice & Milk Drinks"),
    ("DRINK-SOFT-SODA", Some("DRINK-SOFT"), "碳酸饮料", "Sodas"),
    ("DRINK-SOFT-FUNC", Some("DRINK-SOFT"), "功能饮料", "Energy & Sports Drinks"),
    ("DRINK-ALCOHOL", Some("DRINK"), "酒类", "Alcohol"),
    ("DRINK-ALCOHOL-BEER", Some("DRINK-ALCOHOL"), "啤酒", "Beer"),
    ("DRINK-ALCOHOL-BAIJIU", Some("DRINK-ALCOHOL"), "白酒", "Baijiu"),
    ("DRINK-ALCOHOL-WINE", Some("DRINK-ALCOHOL"), "葡萄酒黄酒", "Wine & Rice Wine"),
    ("DRINK-BREW", Some("DRINK"), "咖啡冲调", "Coffee, Tea & Cereal Drinks"),
    ("GRAIN", None, "粮油调味", "Grain, Oil & Seasoning"),
    ("GRAIN-STAPLE", Some("GRAIN"), "米面杂粮", "Rice, Flour & Grains"),
    ("GRAIN-STAPLE-RICE", Some("GRAIN-STAPLE"), "大米", "Rice"),
    ("GRAIN-STAPLE-FLOUR", Some("GRAIN-STAPLE"), "面粉挂面", "Flour & Noodles"),
    ("GRAIN-STAPLE-CEREAL", Some("GRAIN-STAPLE"), "五谷杂粮", "Whole Grains"),
    ("GRAIN-OIL", Some("GRAIN"), "食用油", "Cooking Oil"),
    ("GRAIN-SAUCE", Some("GRAIN"), "调味品", "Condiments"),
    ("GRAIN-SAUCE-SOY", Some("GRAIN-SAUCE"), "酱油醋", "Soy Sauce & Vinegar"),
    ("GRAIN-SAUCE-SEASON", Some("GRAIN-SAUCE"), "调味料", "Seasonings"),
    ("HOUSE", None, "日化", "Household"),
    ("HOUSE-LAUNDRY", Some("HOUSE"), "衣物清洁", "Laundry"),
    ("HOUSE-PAPER", Some("HOUSE"), "纸品湿巾", "Paper & Wipes"),
    ("HOUSE-PAPER-TISSUE", Some("HOUSE-PAPER"), "抽纸", "Facial Tissues"),
    ("HOUSE-PAPER-ROLL", Some("HOUSE-PAPER"), "卷纸", "Toilet Paper"),
    ("HOUSE-PAPER-WET", Some("HOUSE-PAPER"), "湿巾厨纸", "Wipes & Kitchen Paper"),
    ("HOUSE-CLEAN", Some("HOUSE"), "家庭清洁", "Home Cleaning"),
    ("CARE", None, "个护", "Personal Care"),
    ("CARE-ORAL", Some("CARE"), "口腔护理", "Oral Care"),
    ("CARE-HAIR", Some("CARE"), "洗发护发", "Hair Care"),
    ("CARE-BODY", Some("CARE"), "沐浴护肤", "Bath & Skin Care"),
    ("CARE-FEMININE", Some("CARE"), "女性护理", "Feminine Care"),
    ("BABY", None, "母婴", "Baby"),
    ("BABY-FORMULA", Some("BABY"), "奶粉", "Formula Milk"),
    ("BABY-DIAPER", Some("BABY"), "纸尿裤", "Diapers"),
    ("BABY-FOOD", Some("BABY"), "辅食", "Baby Food"),
    ("HOME", None, "家居", "Home"),
    ("HOME-KITCHEN", Some("HOME"), "厨具餐具", "Kitchen & Dining"),
    ("HOME-STORAGE", Some("HOME"), "收纳清洁用品", "Storage & Bags"),
    ("HOME-TEXTILE", Some("HOME"), "家纺", "Home Textiles"),
    ("HOME-TEXTILE-TOWEL", Some("HOME-TEXTILE"), "毛巾浴巾", "Towels"),
    ("HOME-TEXTILE-SLIPPER", Some("HOME-TEXTILE"), "拖鞋", "Slippers"),
    ("HOME-SUPPLY", Some("HOME"), "日用百货", "Daily Essentials"),
];

fn categories() -> Vec<DemoCategory> {
    CATEGORIES
        .iter()
        .map(|&(code, parent, name_zh, name_en)| DemoCategory {
            code: code.to_string(),
            parent: parent.map(str::to_string),
            name_zh: name_zh.to_string(),
            name_en: name_en.to_string(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Brands and product lines
// ---------------------------------------------------------------------------------------------

/// House brand used for unbranded fresh produce.
const HOUSE_BRAND: &str = "鲜邻优选";

/// `(Chinese name, English name)`. The position also derives the brand's GS1 company number.
#[rustfmt::skip]
const BRANDS: &[(&str, &str)] = &[
    (HOUSE_BRAND, "FreshNeighbour Select"),
    ("农夫山泉", "Nongfu Spring"), ("怡宝", "C'estbon"), ("百岁山", "Ganten"), ("娃哈哈", "Wahaha"),
    ("康师傅", "Master Kong"), ("统一", "Uni-President"), ("今麦郎", "Jinmailang"), ("白象", "Baixiang"),
    ("伊利", "Yili"), ("蒙牛", "Mengniu"), ("光明", "Bright Dairy"), ("君乐宝", "Junlebao"),
    ("新希望", "New Hope"), ("养乐多", "Yakult"), ("味全", "Wei Chuan"),
    ("三只松鼠", "Three Squirrels"), ("良品铺子", "Bestore"), ("百草味", "Be&Cheery"), ("洽洽", "ChaCheer"),
    ("旺旺", "Want Want"), ("好丽友", "Orion"), ("达利园", "Daliyuan"), ("盼盼", "Panpan"),
    ("徐福记", "Hsu Fu Chi"), ("大白兔", "White Rabbit"), ("德芙", "Dove"), ("喜之郎", "Strong"),
    ("卫龙", "Weilong"), ("上好佳", "Oishi"), ("乐事", "Lay's"), ("可比克", "Copico"),
    ("嘉士利", "Jiashili"), ("科尔沁", "Kerchin"), ("双汇", "Shuanghui"), ("金锣", "Jinluo"),
    ("周黑鸭", "Zhou Hei Ya"), ("绝味", "Juewei"), ("海底捞", "Haidilao"), ("自嗨锅", "Zihaiguo"),
    ("好欢螺", "Haohuanluo"), ("李子柒", "Li Ziqi"), ("三全", "Sanquan"), ("思念", "Synear"),
    ("湾仔码头", "Wanchai Ferry"), ("正大", "CP"), ("王老吉", "Wong Lo Kat"), ("加多宝", "JDB"),
    ("元气森林", "Genki Forest"), ("东鹏", "Eastroc"), ("红牛", "Red Bull"), ("脉动", "Mizone"),
    ("宝矿力水特", "Pocari Sweat"), ("汇源", "Huiyuan"), ("椰树", "Coconut Palm"),
    ("可口可乐", "Coca-Cola"), ("百事", "Pepsi"), ("北冰洋", "Arctic Ocean"),
    ("青岛啤酒", "Tsingtao"), ("雪花", "Snow"), ("燕京", "Yanjing"), ("哈尔滨", "Harbin"),
    ("五粮液", "Wuliangye"), ("泸州老窖", "Luzhou Laojiao"), ("洋河", "Yanghe"), ("牛栏山", "Niulanshan"),
    ("红星", "Red Star"), ("汾酒", "Fenjiu"), ("张裕", "Changyu"), ("长城", "Great Wall"),
    ("古越龙山", "Guyue Longshan"), ("会稽山", "Kuaijishan"), ("雀巢", "Nestlé"), ("三顿半", "Saturnbird"),
    ("永和", "Yonho"), ("南方", "Nanfang"), ("张一元", "Zhang Yi Yuan"), ("吴裕泰", "Wuyutai"),
    ("桂格", "Quaker"), ("西麦", "Seamild"), ("金龙鱼", "Arawana"), ("福临门", "Fortune"),
    ("十月稻田", "Shiyue Daotian"), ("柴火大院", "Chaihuo Dayuan"), ("香雪", "Xiangxue"), ("五得利", "Wudeli"),
    ("陈克明", "Chen Keming"), ("金沙河", "Jinshahe"), ("鲁花", "Luhua"), ("胡姬花", "Hujihua"),
    ("九三", "Jiusan"), ("海天", "Haitian"), ("李锦记", "Lee Kum Kee"), ("千禾", "Qianhe"),
    ("厨邦", "Chubang"), ("恒顺", "Hengshun"), ("太太乐", "Totole"), ("家乐", "Knorr"),
    ("老干妈", "Lao Gan Ma"), ("德庄", "Dezhuang"), ("中盐", "China Salt"), ("太古", "Taikoo"),
    ("老恒和", "Laohenghe"), ("王致和", "Wangzhihe"), ("蓝月亮", "Blue Moon"), ("立白", "Liby"),
    ("超能", "Chaoneng"), ("奥妙", "OMO"), ("白猫", "White Cat"), ("雕牌", "Diaopai"),
    ("威露士", "Walch"), ("滴露", "Dettol"), ("威猛先生", "Mr Muscle"), ("洁柔", "C&S"),
    ("维达", "Vinda"), ("清风", "Breeze"), ("心相印", "Hearttex"), ("高露洁", "Colgate"),
    ("云南白药", "Yunnan Baiyao"), ("黑人", "Darlie"), ("佳洁士", "Crest"), ("李施德林", "Listerine"),
    ("舒客", "Saky"), ("海飞丝", "Head & Shoulders"), ("清扬", "Clear"), ("飘柔", "Rejoice"),
    ("潘婷", "Pantene"), ("霸王", "Bawang"), ("舒肤佳", "Safeguard"), ("六神", "Liushen"),
    ("力士", "Lux"), ("大宝", "Dabao"), ("百雀羚", "Pechoin"), ("护舒宝", "Whisper"),
    ("苏菲", "Sofy"), ("七度空间", "Space 7"), ("高洁丝", "Kotex"), ("飞鹤", "Feihe"),
    ("贝因美", "Beingmate"), ("帮宝适", "Pampers"), ("好奇", "Huggies"), ("花王", "Merries"),
    ("英氏", "Engnice"), ("亨氏", "Heinz"), ("嘉宝", "Gerber"), ("秋田满满", "Akita Manman"),
    ("苏泊尔", "Supor"), ("爱仕达", "ASD"), ("乐扣乐扣", "LocknLock"), ("茶花", "Chahua"),
    ("妙洁", "Miaojie"), ("双枪", "Shuangqiang"), ("禧天龙", "Citylong"), ("太力", "Taili"),
    ("洁丽雅", "Grace"), ("金号", "Kingshore"), ("孚日", "Sunvim"), ("回力", "Warrior"),
    ("南孚", "Nanfu"), ("双鹿", "Shuanglu"), ("天堂", "Paradise"), ("圣迪乐村", "Sundaily"),
    ("德青源", "DQY"), ("佳沛", "Zespri"),
];

/// One variant of a product line: the SKU spec and the base price in fen.
struct Variant {
    zh: &'static str,
    en: &'static str,
    price_fen: i64,
    /// Overrides the line's unit (e.g. a case of 24 bottles is sold per "箱").
    unit: Option<&'static str>,
}

/// A variant sold in the line's unit.
const fn v(zh: &'static str, en: &'static str, price_fen: i64) -> Variant {
    Variant {
        zh,
        en,
        price_fen,
        unit: None,
    }
}

/// A variant sold in its own unit.
const fn vu(zh: &'static str, en: &'static str, price_fen: i64, unit: &'static str) -> Variant {
    Variant {
        zh,
        en,
        price_fen,
        unit: Some(unit),
    }
}

/// A product line: one product per brand, named `brand + zh` / `brand_en + " " + en`.
struct Line {
    leaf: &'static str,
    zh: &'static str,
    en: &'static str,
    /// Empty for unbranded fresh produce (house brand, name without a brand prefix).
    brands: &'static [&'static str],
    unit: &'static str,
    desc: &'static str,
    /// For packaged lines; empty for weighed lines.
    variants: &'static [Variant],
    /// For weighed lines: price per kg in fen.
    kg_price_fen: Option<i64>,
}

/// A packaged product line.
const fn p(
    leaf: &'static str,
    zh: &'static str,
    en: &'static str,
    brands: &'static [&'static str],
    unit: &'static str,
    desc: &'static str,
    variants: &'static [Variant],
) -> Line {
    Line {
        leaf,
        zh,
        en,
        brands,
        unit,
        desc,
        variants,
        kg_price_fen: None,
    }
}

/// Unbranded fresh produce sold by weight, priced per kg.
const fn w(
    leaf: &'static str,
    zh: &'static str,
    en: &'static str,
    kg_price_fen: i64,
    desc: &'static str,
) -> Line {
    Line {
        leaf,
        zh,
        en,
        brands: &[],
        unit: "kg",
        desc,
        variants: &[],
        kg_price_fen: Some(kg_price_fen),
    }
}

#[rustfmt::skip]
const LINES: &[Line] = &[
    // 生鲜 — fruit, vegetables, meat and seafood are weighed at the scale.
    w("FRESH-FRUIT", "烟台红富士苹果", "Yantai Fuji Apples", 1290, "产地直采，果肉脆甜多汁。"),
    w("FRESH-FRUIT", "海南香蕉", "Hainan Bananas", 690, "自然熟成，香甜软糯。"),
    w("FRESH-FRUIT", "赣南脐橙", "Gannan Navel Oranges", 990, "皮薄多汁，酸甜适口。"),
    w("FRESH-FRUIT", "库尔勒香梨", "Korla Fragrant Pears", 1590, "新疆产区，清香脆嫩。"),
    w("FRESH-FRUIT", "阳光玫瑰葡萄", "Shine Muscat Grapes", 3990, "玫瑰香气，无籽脆甜。"),
    w("FRESH-FRUIT", "麒麟西瓜", "Kirin Watermelon", 390, "薄皮沙瓤，清甜解暑。"),
    w("FRESH-FRUIT", "丹东草莓", "Dandong Strawberries", 3990, "红颜品种，香甜细嫩。"),
    w("FRESH-FRUIT", "台农芒果", "Tainong Mangoes", 1290, "果肉细腻，香甜浓郁。"),
    p("FRESH-FRUIT", "奇异果", "Kiwifruit", &["佳沛"], "盒", "进口优选，维C丰富，酸甜多汁。",
      &[v("金果 6个装", "SunGold, 6 pcs", 3990), v("绿果 6个装", "Green, 6 pcs", 2590)]),
    w("FRESH-VEG", "上海青", "Shanghai Bok Choy", 590, "本地基地当日采摘，鲜嫩爽口。"),
    w("FRESH-VEG", "番茄", "Tomatoes", 690, "自然红熟，沙甜多汁。"),
    w("FRESH-VEG", "黄瓜", "Cucumbers", 590, "顶花带刺，清脆爽口。"),
    w("FRESH-VEG", "土豆", "Potatoes", 390, "个大饱满，炖炒皆宜。"),
    w("FRESH-VEG", "胡萝卜", "Carrots", 390, "色泽鲜亮，口感清甜。"),
    w("FRESH-VEG", "大白菜", "Napa Cabbage", 290, "叶嫩帮脆，炖煮清甜。"),
    w("FRESH-VEG", "西兰花", "Broccoli", 1190, "花球紧实，翠绿鲜嫩。"),
    w("FRESH-VEG", "香菇", "Shiitake Mushrooms", 1990, "菌肉厚实，菇香浓郁。"),
    w("FRESH-VEG", "大葱", "Welsh Onions", 590, "葱白长直，辛香浓郁。"),
    w("FRESH-MEAT-PORK", "猪五花肉", "Pork Belly", 3990, "肥瘦相间，红烧首选。"),
    w("FRESH-MEAT-PORK", "猪前腿肉", "Pork Shoulder", 2890, "肉质细嫩，适合包馅炒制。"),
    w("FRESH-MEAT-PORK", "猪肋排", "Pork Spare Ribs", 4990, "肉厚骨少，糖醋煲汤皆宜。"),
    w("FRESH-MEAT-PORK", "猪里脊肉", "Pork Tenderloin", 3590, "精瘦少筋，滑嫩易熟。"),
    w("FRESH-MEAT-PORK", "猪蹄", "Pig Trotters", 3290, "胶质丰富，卤炖皆香。"),
    w("FRESH-MEAT-BEEF", "牛腱子", "Beef Shank", 8990, "筋肉相连，卤制酱香。"),
    w("FRESH-MEAT-BEEF", "牛腩", "Beef Brisket", 7990, "肥瘦适中，炖煮软烂。"),
    w("FRESH-MEAT-BEEF", "羊腿肉", "Lamb Leg", 8590, "内蒙古草原羊，鲜嫩不膻。"),
    p("FRESH-MEAT-BEEF", "羔羊肉卷", "Lamb Hot Pot Rolls", &[HOUSE_BRAND], "盒", "精选羔羊肉切片，火锅涮煮即熟。",
      &[v("250g", "250g", 3590)]),
    w("FRESH-MEAT-POULTRY", "三黄鸡", "Sanhuang Chicken", 2590, "散养土鸡，肉质紧实。"),
    w("FRESH-MEAT-POULTRY", "鸡胸肉", "Chicken Breast", 1990, "高蛋白低脂肪，健身优选。"),
    w("FRESH-MEAT-POULTRY", "鸡翅中", "Chicken Mid-wings", 4590, "大小均匀，可乐鸡翅首选。"),
    p("FRESH-MEAT-EGG", "鲜鸡蛋", "Fresh Eggs", &["圣迪乐村", "德青源"], "盒", "当日产蛋，新鲜直达，可生食级标准。",
      &[v("10枚", "10 eggs", 1290), v("30枚", "30 eggs", 3290)]),
    p("FRESH-MEAT-EGG", "散养土鸡蛋", "Free-range Eggs", &[HOUSE_BRAND], "盒", "林下散养，蛋黄饱满。",
      &[v("20枚", "20 eggs", 3590)]),
    w("FRESH-SEAFOOD", "基围虾", "Greasyback Shrimp", 7990, "鲜活直供，白灼最鲜。"),
    w("FRESH-SEAFOOD", "鲈鱼", "Sea Bass", 4590, "鲜活现杀，清蒸嫩滑。"),
    w("FRESH-SEAFOOD", "带鱼", "Hairtail", 5990, "舟山海域，肉厚刺少。"),
    w("FRESH-SEAFOOD", "花蛤", "Manila Clams", 1990, "吐沙干净，爆炒鲜美。"),

    // 食品
    p("FOOD-SNACK-CHIPS", "薯片", "Potato Chips", &["乐事", "可比克", "上好佳"], "袋", "精选马铃薯切片，香脆可口。",
      &[v("原味 70g", "Original 70g", 750), v("番茄味 70g", "Tomato 70g", 750), v("黄瓜味 70g", "Cucumber 70g", 750)]),
    p("FOOD-SNACK-CHIPS", "雪饼", "Rice Crackers", &["旺旺"], "袋", "大米烘焙，香脆酥松。",
      &[v("84g", "84g", 690), v("520g 家庭装", "520g family pack", 2590)]),
    p("FOOD-SNACK-CHIPS", "仙贝", "Senbei Rice Crackers", &["旺旺"], "袋", "甜咸适中，入口酥脆。",
      &[v("52g", "52g", 590)]),
    p("FOOD-SNACK-CHIPS", "大面筋", "Spicy Gluten Strips", &["卫龙"], "袋", "经典辣条，麻辣劲道。",
      &[v("106g", "106g", 590), v("65g", "65g", 350)]),
    p("FOOD-SNACK-CHIPS", "魔芋爽", "Spicy Konjac Strips", &["卫龙"], "袋", "魔芋制作，爽脆香辣。",
      &[v("香辣味 180g", "Hot & spicy 180g", 1290)]),
    p("FOOD-SNACK-CHIPS", "鲜虾片", "Prawn Crackers", &["上好佳"], "袋", "鲜虾风味，松脆香口。",
      &[v("40g", "40g", 450)]),
    p("FOOD-SNACK-NUTS", "每日坚果", "Daily Mixed Nuts", &["三只松鼠", "良品铺子", "百草味", "洽洽"], "盒", "多种坚果果干科学配比，独立小包。",
      &[v("25g×7袋", "25g × 7 packs", 3990), v("25g×30袋", "25g × 30 packs", 12900)]),
    p("FOOD-SNACK-NUTS", "夏威夷果", "Macadamia Nuts", &["三只松鼠", "良品铺子", "百草味"], "袋", "颗粒饱满，奶香浓郁，附开口器。",
      &[v("奶油味 160g", "Cream flavour 160g", 2990)]),
    p("FOOD-SNACK-NUTS", "碧根果", "Pecans", &["三只松鼠", "百草味"], "袋", "薄壳易剥，果仁香脆。",
      &[v("120g", "120g", 2590)]),
    p("FOOD-SNACK-NUTS", "开心果", "Pistachios", &["良品铺子", "三只松鼠"], "袋", "自然开口，原色无漂白。",
      &[v("200g", "200g", 3990)]),
    p("FOOD-SNACK-NUTS", "香瓜子", "Roasted Sunflower Seeds", &["洽洽"], "袋", "粒粒饱满，越嗑越香。",
      &[v("五香 260g", "Five-spice 260g", 1190), v("焦糖 108g", "Caramel 108g", 690)]),
    p("FOOD-SNACK-CANDY", "奶糖", "Milk Candy", &["大白兔"], "袋", "经典国货奶糖，奶香浓郁。",
      &[v("原味 227g", "Original 227g", 1990), v("红豆味 227g", "Red bean 227g", 1990)]),
    p("FOOD-SNACK-CANDY", "酥心糖", "Crispy Filled Candy", &["徐福记"], "袋", "酥脆夹心，年货必备。",
      &[v("500g", "500g", 2990)]),
    p("FOOD-SNACK-CANDY", "丝滑牛奶巧克力", "Silky Milk Chocolate", &["德芙"], "块", "丝滑细腻，浓郁奶香。",
      &[v("43g", "43g", 790), vu("252g 碗装", "252g bowl", 4990, "碗")]),
    p("FOOD-SNACK-CANDY", "什锦果冻", "Assorted Jelly Cups", &["喜之郎"], "袋", "多种水果口味，Q弹爽滑。",
      &[v("360g", "360g", 1290)]),
    p("FOOD-SNACK-JERKY", "牛肉干", "Beef Jerky", &["良品铺子", "三只松鼠", "科尔沁"], "袋", "精选牛后腿肉，风干有嚼劲。",
      &[v("五香 100g", "Five-spice 100g", 3290), v("香辣 100g", "Spicy 100g", 3290)]),
    p("FOOD-SNACK-JERKY", "猪肉脯", "Pork Jerky", &["良品铺子", "百草味"], "袋", "靖江工艺，薄脆甜香。",
      &[v("原味 100g", "Original 100g", 1990)]),
    p("FOOD-SNACK-JERKY", "卤鸭脖", "Braised Duck Neck", &["周黑鸭", "绝味"], "盒", "秘制卤料，甜辣入味。",
      &[v("微辣 200g", "Mild 200g", 3590)]),
    p("FOOD-SNACK-JERKY", "火腿肠", "Ham Sausage", &["双汇", "金锣"], "袋", "优质猪肉制作，即开即食。",
      &[v("30g×9支", "30g × 9", 1290), v("优级 45g×10支", "Premium 45g × 10", 2390)]),
    p("FOOD-BISCUIT", "巧克力派", "Chocolate Pie", &["好丽友", "达利园"], "盒", "巧克力涂层包裹棉花糖夹心。",
      &[v("6枚 204g", "6 pcs 204g", 1290), v("12枚 408g", "12 pcs 408g", 2290)]),
    p("FOOD-BISCUIT", "法式软面包", "French-style Soft Bread", &["达利园", "盼盼"], "袋", "松软香甜，早餐好搭档。",
      &[v("香奶味 200g", "Milk 200g", 990)]),
    p("FOOD-BISCUIT", "蛋黄酥", "Egg Yolk Pastry", &["良品铺子", "百草味"], "盒", "咸蛋黄配红豆沙，层层起酥。",
      &[v("6枚 330g", "6 pcs 330g", 2990)]),
    p("FOOD-BISCUIT", "苏打饼干", "Soda Crackers", &["嘉士利", "康师傅"], "袋", "薄脆不甜，饱腹佳选。",
      &[v("原味 400g", "Original 400g", 990), v("葱香 400g", "Scallion 400g", 990)]),
    p("FOOD-BISCUIT", "鸡蛋卷", "Egg Rolls", &["徐福记", "嘉士利"], "盒", "鸡蛋黄油香浓，酥脆掉渣。",
      &[v("240g", "240g", 1590)]),
    p("FOOD-BISCUIT", "妙芙欧式蛋糕", "Muffin Cake", &["康师傅"], "袋", "绵软湿润，独立包装。",
      &[v("巧克力味 96g", "Chocolate 96g", 690)]),
    p("FOOD-INSTANT-NOODLE", "红烧牛肉面", "Braised Beef Noodles", &["康师傅", "统一", "今麦郎", "白象"], "袋", "经典红烧口味，面饼筋道。",
      &[v("单包 105g", "Single pack 105g", 350), vu("五连包", "5-pack", 1290, "提"), vu("桶装 110g", "Cup 110g", 550, "桶")]),
    p("FOOD-INSTANT-NOODLE", "老坛酸菜牛肉面", "Pickled Cabbage Beef Noodles", &["统一", "康师傅"], "袋", "老坛酸菜，酸爽开胃。",
      &[v("单包 121g", "Single pack 121g", 350), vu("五连包", "5-pack", 1290, "提")]),
    p("FOOD-INSTANT-NOODLE", "鲜虾鱼板面", "Shrimp & Fish Cake Noodles", &["康师傅"], "袋", "海鲜汤底，鲜香浓郁。",
      &[v("单包 97g", "Single pack 97g", 350)]),
    p("FOOD-INSTANT-NOODLE", "汤达人日式豚骨拉面", "Tonkotsu Ramen", &["统一"], "桶", "浓郁骨汤，非油炸面饼。",
      &[v("桶装 83g", "Cup 83g", 890)]),
    p("FOOD-INSTANT-NOODLE", "自热火锅", "Self-heating Hot Pot", &["海底捞", "自嗨锅"], "盒", "无需明火，加水即热。",
      &[v("麻辣嫩牛 400g", "Spicy beef 400g", 3990), v("番茄肥牛 380g", "Tomato beef 380g", 3990)]),
    p("FOOD-INSTANT-NOODLE", "螺蛳粉", "Luosifen Rice Noodles", &["好欢螺", "李子柒"], "袋", "柳州风味，酸辣鲜爽。",
      &[v("400g", "400g", 1590)]),
    p("FOOD-INSTANT-FROZEN", "水饺", "Frozen Dumplings", &["三全", "思念", "湾仔码头"], "袋", "皮薄馅大，速冻锁鲜。",
      &[v("猪肉白菜 500g", "Pork & cabbage 500g", 1590), v("玉米猪肉 500g", "Corn & pork 500g", 1690),
        v("荠菜猪肉 500g", "Shepherd's purse & pork 500g", 1790)]),
    p("FOOD-INSTANT-FROZEN", "汤圆", "Glutinous Rice Balls", &["三全", "思念"], "袋", "软糯香甜，团圆滋味。",
      &[v("黑芝麻 400g", "Black sesame 400g", 1290), v("花生 400g", "Peanut 400g", 1290)]),
    p("FOOD-INSTANT-FROZEN", "手抓饼", "Scallion Pancakes", &["正大", "三全"], "袋", "千层酥脆，平底锅即煎。",
      &[v("原味 10片 900g", "Original 10 pcs 900g", 1990)]),
    p("FOOD-INSTANT-FROZEN", "鲜肉大馄饨", "Pork Wontons", &["湾仔码头"], "袋", "手工包制，汤鲜馅嫩。",
      &[v("荠菜鲜肉 480g", "Shepherd's purse & pork 480g", 2590)]),
    p("FOOD-DAIRY-MILK", "纯牛奶", "Pure Milk", &["伊利", "蒙牛", "光明"], "盒", "优质奶源，营养早餐。",
      &[v("250ml", "250ml", 350), vu("250ml×16盒", "250ml × 16", 5490, "箱")]),
    p("FOOD-DAIRY-MILK", "金典有机纯牛奶", "Satine Organic Milk", &["伊利"], "箱", "有机认证奶源，3.8g乳蛋白。",
      &[v("250ml×12盒", "250ml × 12", 6990)]),
    p("FOOD-DAIRY-MILK", "特仑苏纯牛奶", "Deluxe Pure Milk", &["蒙牛"], "箱", "专属牧场，高端品质。",
      &[v("250ml×12盒", "250ml × 12", 6590)]),
    p("FOOD-DAIRY-MILK", "鲜牛奶", "Fresh Milk", &["光明", "新希望"], "瓶", "巴氏杀菌，需冷藏保存。",
      &[v("950ml", "950ml", 1690), v("450ml", "450ml", 990)]),
    p("FOOD-DAIRY-YOGURT", "常温酸奶", "Ambient Yogurt", &["伊利", "蒙牛", "君乐宝"], "箱", "常温保存，浓醇顺滑。",
      &[v("原味 205g×12", "Original 205g × 12", 5990), v("草莓味 200g×10", "Strawberry 200g × 10", 4990)]),
    p("FOOD-DAIRY-YOGURT", "低温风味发酵乳", "Chilled Yogurt", &["光明", "君乐宝", "新希望"], "杯", "活菌发酵，冷藏鲜享。",
      &[v("原味 135g", "Original 135g", 590), v("黄桃燕麦 135g", "Peach & oat 135g", 690)]),
    p("FOOD-DAIRY-YOGURT", "活性乳酸菌饮品", "Probiotic Drink", &["养乐多", "味全"], "排", "每瓶含百亿活性乳酸菌。",
      &[v("100ml×5瓶", "100ml × 5", 1190)]),

    // 饮料酒水
    p("DRINK-WATER", "饮用天然水", "Natural Drinking Water", &["农夫山泉"], "瓶", "优质水源地，天然弱碱性。",
      &[v("550ml", "550ml", 200), v("1.5L", "1.5L", 450), vu("550ml×24瓶", "550ml × 24", 3990, "箱")]),
    p("DRINK-WATER", "饮用纯净水", "Purified Drinking Water", &["怡宝", "娃哈哈", "康师傅"], "瓶", "多重过滤，纯净安心。",
      &[v("555ml", "555ml", 200), v("1.555L", "1.555L", 450), vu("4.5L", "4.5L", 990, "桶")]),
    p("DRINK-WATER", "天然矿泉水", "Natural Mineral Water", &["百岁山"], "瓶", "含天然偏硅酸，口感清润。",
      &[v("570ml", "570ml", 300), vu("570ml×24瓶", "570ml × 24", 5990, "箱")]),
    p("DRINK-SOFT-TEA", "冰红茶", "Iced Black Tea", &["康师傅", "统一"], "瓶", "柠檬风味，冰爽解渴。",
      &[v("500ml", "500ml", 300), v("1L", "1L", 500)]),
    p("DRINK-SOFT-TEA", "绿茶", "Green Tea", &["康师傅", "统一"], "瓶", "茉莉清香，低糖清爽。",
      &[v("500ml", "500ml", 300)]),
    p("DRINK-SOFT-TEA", "东方树叶茉莉花茶", "Oriental Leaf Jasmine Tea", &["农夫山泉"], "瓶", "0糖0卡，原叶萃取。",
      &[v("500ml", "500ml", 550)]),
    p("DRINK-SOFT-TEA", "凉茶", "Herbal Tea", &["王老吉", "加多宝"], "罐", "传统植物配方，怕上火喝凉茶。",
      &[v("310ml", "310ml", 350), vu("310ml×12罐", "310ml × 12", 3990, "箱")]),
    p("DRINK-SOFT-JUICE", "100%橙汁", "100% Orange Juice", &["汇源", "农夫山泉"], "瓶", "无添加蔗糖，果味纯正。",
      &[v("1L", "1L", 1290)]),
    p("DRINK-SOFT-JUICE", "椰汁", "Coconut Milk Drink", &["椰树"], "罐", "海南鲜椰肉榨汁，不加香精。",
      &[v("245ml", "245ml", 400), vu("1L", "1L", 1190, "盒")]),
    p("DRINK-SOFT-JUICE", "AD钙奶", "AD Calcium Milk Drink", &["娃哈哈"], "排", "童年的味道，酸甜可口。",
      &[v("220g×4瓶", "220g × 4", 890)]),
    p("DRINK-SOFT-JUICE", "营养快线", "Nutri-Express", &["娃哈哈"], "瓶", "果汁加牛奶，营养又美味。",
      &[v("原味 500g", "Original 500g", 450)]),
    p("DRINK-SOFT-SODA", "", "", &["可口可乐"], "罐", "经典口味，畅爽气泡。",
      &[v("原味 330ml", "Original 330ml", 300), vu("原味 2L", "Original 2L", 690, "瓶"), vu("330ml×24罐", "330ml × 24", 4990, "箱")]),
    p("DRINK-SOFT-SODA", "零度", "Zero", &["可口可乐"], "罐", "零糖零卡，同样畅爽。",
      &[v("330ml", "330ml", 300)]),
    p("DRINK-SOFT-SODA", "可乐", "Cola", &["百事"], "罐", "激情畅饮，清爽气泡。",
      &[v("330ml", "330ml", 300), vu("2L", "2L", 690, "瓶")]),
    p("DRINK-SOFT-SODA", "桔汁汽水", "Tangerine Soda", &["北冰洋"], "瓶", "老北京的味道，玻璃瓶装。",
      &[v("248ml", "248ml", 500)]),
    p("DRINK-SOFT-SODA", "气泡水", "Sparkling Water", &["元气森林"], "瓶", "0糖0脂0卡，清爽气泡。",
      &[v("白桃味 480ml", "White peach 480ml", 550), v("青瓜味 480ml", "Cucumber 480ml", 550), v("卡曼橘味 480ml", "Calamansi 480ml", 550)]),
    p("DRINK-SOFT-FUNC", "维生素功能饮料", "Vitamin Energy Drink", &["红牛", "东鹏"], "罐", "补充能量，抗疲劳。",
      &[v("250ml", "250ml", 600), vu("250ml×6罐", "250ml × 6", 3390, "提")]),
    p("DRINK-SOFT-FUNC", "特饮", "Energy Drink", &["东鹏"], "瓶", "累了困了喝一瓶。",
      &[v("500ml", "500ml", 500)]),
    p("DRINK-SOFT-FUNC", "电解质水", "Electrolyte Drink", &["元气森林", "宝矿力水特"], "瓶", "快速补充电解质，运动后适饮。",
      &[v("500ml", "500ml", 550)]),
    p("DRINK-SOFT-FUNC", "维生素饮料", "Vitamin Drink", &["脉动"], "瓶", "富含维生素C，随时脉动回来。",
      &[v("青柠味 600ml", "Lime 600ml", 500), v("桃子味 600ml", "Peach 600ml", 500)]),
    p("DRINK-ALCOHOL-BEER", "经典1903", "Classic 1903 Lager", &["青岛啤酒"], "罐", "百年经典，麦香浓郁。",
      &[v("500ml", "500ml", 600), vu("500ml×12罐", "500ml × 12", 6290, "箱")]),
    p("DRINK-ALCOHOL-BEER", "纯生", "Draft Beer", &["青岛啤酒"], "罐", "膜过滤工艺，新鲜爽口。",
      &[v("500ml", "500ml", 750)]),
    p("DRINK-ALCOHOL-BEER", "纯生啤酒", "Draft Beer", &["雪花", "燕京"], "罐", "清爽顺口，冰镇更佳。",
      &[v("500ml", "500ml", 550), vu("500ml×12罐", "500ml × 12", 5590, "箱")]),
    p("DRINK-ALCOHOL-BEER", "冰纯啤酒", "Ice Pure Lager", &["哈尔滨"], "罐", "冰爽纯净，低醇畅饮。",
      &[v("330ml", "330ml", 350), vu("330ml×24罐", "330ml × 24", 6590, "箱")]),
    p("DRINK-ALCOHOL-BAIJIU", "浓香型白酒", "Strong-aroma Baijiu", &["五粮液"], "瓶", "多粮酿造，窖香浓郁。",
      &[v("52度 500ml", "52% 500ml", 109_900)]),
    p("DRINK-ALCOHOL-BAIJIU", "特曲", "Tequ Baijiu", &["泸州老窖"], "瓶", "国窖酿造，绵甜爽净。",
      &[v("52度 500ml", "52% 500ml", 32_900)]),
    p("DRINK-ALCOHOL-BAIJIU", "海之蓝", "Ocean Blue Baijiu", &["洋河"], "瓶", "绵柔型白酒，入口柔顺。",
      &[v("42度 480ml", "42% 480ml", 13_900), v("52度 480ml", "52% 480ml", 16_900)]),
    p("DRINK-ALCOHOL-BAIJIU", "二锅头", "Erguotou", &["牛栏山", "红星"], "瓶", "北京传统清香型白酒。",
      &[v("56度 500ml", "56% 500ml", 1990), v("42度 500ml", "42% 500ml", 1590)]),
    p("DRINK-ALCOHOL-BAIJIU", "黄盖玻汾", "Fenjiu Glass Bottle", &["汾酒"], "瓶", "清香型代表，清雅纯正。",
      &[v("53度 475ml", "53% 475ml", 5990)]),
    p("DRINK-ALCOHOL-WINE", "干红葡萄酒", "Dry Red Wine", &["张裕", "长城"], "瓶", "国产优质产区，果香浓郁。",
      &[v("赤霞珠 750ml", "Cabernet Sauvignon 750ml", 8900), v("解百纳 750ml", "Cabernet Gernischt 750ml", 12_900)]),
    p("DRINK-ALCOHOL-WINE", "花雕酒", "Huadiao Rice Wine", &["古越龙山", "会稽山"], "瓶", "绍兴黄酒，温饮佐餐皆宜。",
      &[v("五年陈 500ml", "5-year 500ml", 2590)]),
    p("DRINK-BREW", "速溶咖啡", "Instant Coffee", &["雀巢"], "盒", "经典1+2配方，香浓顺滑。",
      &[v("1+2原味 15g×30条", "1+2 Original 15g × 30", 4590), v("1+2特浓 13g×30条", "1+2 Extra Strong 13g × 30", 4590)]),
    p("DRINK-BREW", "精品速溶咖啡", "Specialty Instant Coffee", &["三顿半"], "盒", "冷热水秒溶，精品风味。",
      &[v("3g×8颗", "3g × 8", 5990)]),
    p("DRINK-BREW", "豆浆粉", "Soy Milk Powder", &["永和"], "袋", "非转基因大豆，冲调方便。",
      &[v("原味 350g", "Original 350g", 1990)]),
    p("DRINK-BREW", "黑芝麻糊", "Black Sesame Paste", &["南方"], "袋", "浓香顺滑，营养早餐。",
      &[v("600g", "600g", 2290)]),
    p("DRINK-BREW", "茉莉花茶", "Jasmine Tea", &["张一元", "吴裕泰"], "罐", "老字号窨制，花香鲜灵。",
      &[v("100g", "100g", 5890)]),
    p("DRINK-BREW", "即食燕麦片", "Instant Oatmeal", &["桂格", "西麦"], "袋", "全谷物燕麦，冲泡即食。",
      &[v("1000g", "1000g", 2590)]),

    // 粮油调味
    p("GRAIN-STAPLE-RICE", "东北大米", "Northeast Rice", &["金龙鱼", "福临门", "十月稻田", "柴火大院"], "袋", "东北黑土地一年一季，粒粒饱满。",
      &[v("5kg", "5kg", 3990), v("10kg", "10kg", 7490)]),
    p("GRAIN-STAPLE-RICE", "五常大米", "Wuchang Rice", &["十月稻田", "柴火大院", "福临门"], "袋", "五常稻花香，软糯回甜。",
      &[v("5kg", "5kg", 6990)]),
    p("GRAIN-STAPLE-RICE", "泰国香米", "Thai Jasmine Rice", &["金龙鱼", "福临门"], "袋", "原粮进口，米香浓郁。",
      &[v("5kg", "5kg", 5990)]),
    p("GRAIN-STAPLE-FLOUR", "小麦粉", "Wheat Flour", &["金龙鱼", "香雪", "五得利"], "袋", "优质小麦研磨，面食烘焙皆宜。",
      &[v("高筋 1kg", "Bread flour 1kg", 890), v("通用 5kg", "All-purpose 5kg", 3290)]),
    p("GRAIN-STAPLE-FLOUR", "挂面", "Dried Noodles", &["陈克明", "金沙河", "今麦郎"], "袋", "爽滑劲道，久煮不糊。",
      &[v("鸡蛋挂面 1kg", "Egg noodles 1kg", 990), v("龙须挂面 500g", "Thin noodles 500g", 590)]),
    p("GRAIN-STAPLE-CEREAL", "黄小米", "Yellow Millet", &["十月稻田", "柴火大院"], "袋", "新米熬粥，米油浓稠。",
      &[v("1kg", "1kg", 1590)]),
    p("GRAIN-STAPLE-CEREAL", "红豆", "Red Beans", &["十月稻田"], "袋", "颗粒饱满，易煮开花。",
      &[v("1kg", "1kg", 1690)]),
    p("GRAIN-OIL", "花生油", "Peanut Oil", &["鲁花", "金龙鱼", "胡姬花"], "桶", "物理压榨，花生香浓。",
      &[v("1.8L", "1.8L", 5990), v("5L", "5L", 14_990)]),
    p("GRAIN-OIL", "食用调和油", "Blended Cooking Oil", &["金龙鱼", "福临门"], "桶", "多种油脂科学配比。",
      &[v("5L", "5L", 6990)]),
    p("GRAIN-OIL", "大豆油", "Soybean Oil", &["福临门", "九三"], "桶", "非转基因大豆压榨。",
      &[v("5L", "5L", 5990)]),
    p("GRAIN-OIL", "小磨香油", "Sesame Oil", &["鲁花", "金龙鱼"], "瓶", "石磨工艺，香味醇厚。",
      &[v("220ml", "220ml", 1990)]),
    p("GRAIN-SAUCE-SOY", "生抽", "Light Soy Sauce", &["海天", "李锦记", "千禾", "厨邦"], "瓶", "天然酿造，炒菜凉拌提鲜。",
      &[v("500ml", "500ml", 990), v("1.9L", "1.9L", 2290)]),
    p("GRAIN-SAUCE-SOY", "老抽", "Dark Soy Sauce", &["海天", "李锦记"], "瓶", "红烧上色，酱香浓郁。",
      &[v("500ml", "500ml", 1090)]),
    p("GRAIN-SAUCE-SOY", "蚝油", "Oyster Sauce", &["李锦记", "海天"], "瓶", "鲜蚝熬制，鲜味十足。",
      &[v("510g", "510g", 1290)]),
    p("GRAIN-SAUCE-SOY", "香醋", "Aromatic Vinegar", &["恒顺", "千禾"], "瓶", "固态发酵，酸而不涩。",
      &[v("500ml", "500ml", 790)]),
    p("GRAIN-SAUCE-SOY", "米醋", "Rice Vinegar", &["海天", "千禾"], "瓶", "大米酿造，酸味柔和。",
      &[v("450ml", "450ml", 690)]),
    p("GRAIN-SAUCE-SEASON", "鸡精", "Chicken Bouillon Granules", &["太太乐", "家乐"], "袋", "鸡肉提鲜，汤菜皆宜。",
      &[v("200g", "200g", 990), v("454g", "454g", 1990)]),
    p("GRAIN-SAUCE-SEASON", "风味豆豉油辣椒", "Chilli Oil with Black Beans", &["老干妈"], "瓶", "香辣下饭，经典味道。",
      &[v("280g", "280g", 1190)]),
    p("GRAIN-SAUCE-SEASON", "火锅底料", "Hot Pot Soup Base", &["海底捞", "德庄"], "袋", "重庆风味，一料多用。",
      &[v("牛油麻辣 150g", "Beef tallow spicy 150g", 1290), v("番茄 200g", "Tomato 200g", 1190)]),
    p("GRAIN-SAUCE-SEASON", "食用盐", "Table Salt", &["中盐"], "袋", "精制食用盐，洁白细腻。",
      &[v("加碘精制盐 400g", "Iodised 400g", 300), v("低钠盐 350g", "Low sodium 350g", 450)]),
    p("GRAIN-SAUCE-SEASON", "白砂糖", "White Sugar", &["太古"], "袋", "优级白砂糖，纯净清甜。",
      &[v("454g", "454g", 790)]),
    p("GRAIN-SAUCE-SEASON", "料酒", "Cooking Wine", &["老恒和", "王致和"], "瓶", "黄酒酿造，去腥增香。",
      &[v("500ml", "500ml", 690)]),

    // 日化
    p("HOUSE-LAUNDRY", "洗衣液", "Laundry Liquid", &["蓝月亮", "立白", "超能", "奥妙"], "瓶", "深层洁净，低泡易漂。",
      &[v("薰衣草香 2kg", "Lavender 2kg", 3990), v("深层洁净 3kg", "Deep clean 3kg", 5490), vu("补充装 1kg", "Refill 1kg", 1990, "袋")]),
    p("HOUSE-LAUNDRY", "洗衣凝珠", "Laundry Pods", &["蓝月亮", "立白", "奥妙"], "盒", "一颗洗净，留香持久。",
      &[v("52颗", "52 pods", 4990)]),
    p("HOUSE-LAUNDRY", "洗衣粉", "Laundry Powder", &["立白", "白猫", "雕牌"], "袋", "强效去渍，不伤手。",
      &[v("1.6kg", "1.6kg", 2290)]),
    p("HOUSE-LAUNDRY", "衣物消毒液", "Laundry Sanitiser", &["威露士", "滴露"], "瓶", "有效除菌99.9%，温和不伤衣物。",
      &[v("1L", "1L", 3990)]),
    p("HOUSE-PAPER-TISSUE", "抽纸", "Facial Tissues", &["洁柔", "维达", "清风", "心相印"], "提", "原生木浆，柔韧亲肤。",
      &[v("3层120抽×6包", "3-ply 120 sheets × 6", 1990), vu("3层100抽×24包", "3-ply 100 sheets × 24", 6990, "箱")]),
    p("HOUSE-PAPER-ROLL", "卷纸", "Toilet Rolls", &["洁柔", "维达", "清风", "心相印"], "提", "加厚4层，柔软吸水。",
      &[v("4层140g×10卷", "4-ply 140g × 10", 2990), v("4层120g×27卷", "4-ply 120g × 27", 6990)]),
    p("HOUSE-PAPER-WET", "湿巾", "Wet Wipes", &["心相印", "维达"], "包", "纯水配方，温和清洁。",
      &[v("80片", "80 sheets", 990), v("10片×10包", "10 sheets × 10", 1290)]),
    p("HOUSE-PAPER-WET", "厨房纸巾", "Kitchen Towels", &["维达", "清风"], "提", "吸油吸水，厨房必备。",
      &[v("2层75节×4卷", "2-ply 75 sheets × 4", 1990)]),
    p("HOUSE-CLEAN", "洗洁精", "Dishwashing Liquid", &["立白", "白猫", "雕牌"], "瓶", "快速去油，易冲洗无残留。",
      &[v("1.5kg", "1.5kg", 1290), v("柠檬 1kg", "Lemon 1kg", 990)]),
    p("HOUSE-CLEAN", "厨房重油污净", "Kitchen Degreaser", &["威猛先生"], "瓶", "强力分解顽固油污。",
      &[v("500g", "500g", 2190)]),
    p("HOUSE-CLEAN", "洁厕液", "Toilet Cleaner", &["蓝月亮", "威猛先生"], "瓶", "去除尿垢，清新除味。",
      &[v("600g", "600g", 1290)]),
    p("HOUSE-CLEAN", "地板清洁剂", "Floor Cleaner", &["蓝月亮", "威露士"], "瓶", "免过水配方，光亮不留痕。",
      &[v("2kg", "2kg", 3590)]),

    // 个护
    p("CARE-ORAL", "牙膏", "Toothpaste", &["高露洁", "云南白药", "黑人", "佳洁士"], "支", "防蛀护龈，清新口气。",
      &[v("清新薄荷 120g", "Fresh mint 120g", 1290), v("美白 140g", "Whitening 140g", 1590)]),
    p("CARE-ORAL", "软毛牙刷", "Soft Toothbrush", &["高露洁", "黑人", "佳洁士"], "套", "细软刷毛，呵护牙龈。",
      &[v("3支装", "3-pack", 1990)]),
    p("CARE-ORAL", "漱口水", "Mouthwash", &["李施德林", "舒客"], "瓶", "深层清洁，持久清新。",
      &[v("冰蓝 250ml", "Cool mint 250ml", 2590)]),
    p("CARE-HAIR", "洗发水", "Shampoo", &["海飞丝", "清扬", "飘柔", "潘婷"], "瓶", "温和洁净，秀发顺滑。",
      &[v("去屑 400ml", "Anti-dandruff 400ml", 4590), v("柔顺 750ml", "Smooth 750ml", 6990)]),
    p("CARE-HAIR", "护发素", "Conditioner", &["潘婷", "飘柔"], "瓶", "修护干枯毛躁。",
      &[v("400ml", "400ml", 4290)]),
    p("CARE-HAIR", "防脱育发洗发液", "Anti Hair-loss Shampoo", &["霸王"], "瓶", "中草药配方，固发防脱。",
      &[v("400ml", "400ml", 6890)]),
    p("CARE-BODY", "沐浴露", "Body Wash", &["舒肤佳", "六神", "力士"], "瓶", "丰富泡沫，洁净留香。",
      &[v("720ml", "720ml", 3990), vu("补充装 400ml", "Refill 400ml", 1990, "袋")]),
    p("CARE-BODY", "香皂", "Bar Soap", &["舒肤佳", "六神", "力士"], "组", "温和除菌，洗后清爽。",
      &[v("100g×3块", "100g × 3", 1590)]),
    p("CARE-BODY", "花露水", "Floral Water", &["六神"], "瓶", "清凉止痒，夏日必备。",
      &[v("195ml", "195ml", 1290)]),
    p("CARE-BODY", "润肤霜", "Moisturising Cream", &["大宝", "百雀羚"], "瓶", "滋润保湿，国货经典。",
      &[v("200ml", "200ml", 1590)]),
    p("CARE-BODY", "洗手液", "Hand Wash", &["蓝月亮", "滴露", "威露士"], "瓶", "抑菌配方，温和护手。",
      &[v("500g", "500g", 1990)]),
    p("CARE-FEMININE", "日用卫生巾", "Day Sanitary Pads", &["护舒宝", "苏菲", "七度空间", "高洁丝"], "包", "超薄透气，迅速吸收。",
      &[v("240mm×10片", "240mm × 10", 1290)]),
    p("CARE-FEMININE", "夜用卫生巾", "Night Sanitary Pads", &["护舒宝", "苏菲", "七度空间"], "包", "加长防漏，安心整晚。",
      &[v("350mm×8片", "350mm × 8", 1890)]),

    // 母婴
    p("BABY-FORMULA", "婴儿配方奶粉", "Infant Formula", &["飞鹤", "君乐宝", "伊利", "贝因美"], "罐", "更适合中国宝宝体质，营养配方。",
      &[v("1段 800g", "Stage 1 800g", 26_800), v("2段 800g", "Stage 2 800g", 25_800), v("3段 800g", "Stage 3 800g", 23_800)]),
    p("BABY-FORMULA", "儿童成长奶粉", "Kids Growth Milk Powder", &["伊利", "飞鹤"], "罐", "3岁以上儿童适用。",
      &[v("4段 800g", "Stage 4 800g", 16_800)]),
    p("BABY-DIAPER", "纸尿裤", "Diapers", &["帮宝适", "好奇", "花王"], "包", "轻薄透气，干爽不红屁屁。",
      &[v("S码 62片", "Size S, 62", 11_900), v("M码 50片", "Size M, 50", 11_900), v("L码 40片", "Size L, 40", 11_900)]),
    p("BABY-DIAPER", "拉拉裤", "Pull-up Pants", &["帮宝适", "好奇"], "包", "学步期宝宝，穿脱方便。",
      &[v("XL码 36片", "Size XL, 36", 12_900)]),
    p("BABY-FOOD", "婴儿米粉", "Baby Rice Cereal", &["英氏", "亨氏", "嘉宝"], "罐", "6月龄以上，强化铁锌钙。",
      &[v("原味 250g", "Original 250g", 5990)]),
    p("BABY-FOOD", "苹果泥", "Apple Puree", &["亨氏"], "袋", "100%水果制成，无添加糖。",
      &[v("78g", "78g", 690)]),
    p("BABY-FOOD", "宝宝面条", "Baby Noodles", &["英氏", "秋田满满"], "盒", "无添加盐，易煮易消化。",
      &[v("200g", "200g", 2590)]),

    // 家居
    p("HOME-KITCHEN", "不粘炒锅", "Non-stick Wok", &["苏泊尔", "爱仕达"], "个", "少油烟不粘锅，燃气电磁炉通用。",
      &[v("30cm", "30cm", 19_900), v("32cm", "32cm", 22_900)]),
    p("HOME-KITCHEN", "玻璃保鲜盒", "Glass Food Containers", &["乐扣乐扣", "茶花"], "套", "耐热玻璃，微波炉可用。",
      &[v("3件套", "Set of 3", 5990)]),
    p("HOME-KITCHEN", "保鲜膜", "Cling Film", &["妙洁", "茶花"], "卷", "PE材质，食品级安全。",
      &[v("30cm×50m", "30cm × 50m", 1290)]),
    p("HOME-KITCHEN", "竹砧板", "Bamboo Cutting Board", &["双枪"], "块", "整竹压制，不易开裂。",
      &[v("中号 36×26cm", "Medium 36×26cm", 3990)]),
    p("HOME-KITCHEN", "合金筷子", "Alloy Chopsticks", &["双枪"], "套", "耐高温不发霉，家用10双装。",
      &[v("10双", "10 pairs", 2990)]),
    p("HOME-STORAGE", "收纳箱", "Storage Box", &["茶花", "禧天龙"], "个", "加厚塑料，带轮可叠放。",
      &[v("透明 / 55L", "Clear / 55L", 4990), v("透明 / 35L", "Clear / 35L", 3590), v("灰色 / 35L", "Grey / 35L", 3590)]),
    p("HOME-STORAGE", "防滑衣架", "Non-slip Clothes Hangers", &["太力", "茶花"], "包", "浸塑防滑，无痕不变形。",
      &[v("10只装", "Pack of 10", 1990)]),
    p("HOME-STORAGE", "加厚垃圾袋", "Heavy-duty Garbage Bags", &["妙洁", "茶花"], "卷", "加厚耐用，不易破漏。",
      &[v("45×50cm 100只", "45×50cm, 100 bags", 1590)]),
    p("HOME-TEXTILE-TOWEL", "纯棉毛巾", "Cotton Face Towel", &["洁丽雅", "金号", "孚日"], "条", "新疆长绒棉，柔软吸水。",
      &[v("蓝色 / 34×76cm", "Blue / 34×76cm", 1990), v("粉色 / 34×76cm", "Pink / 34×76cm", 1990), v("灰色 / 34×76cm", "Grey / 34×76cm", 1990)]),
    p("HOME-TEXTILE-TOWEL", "纯棉浴巾", "Cotton Bath Towel", &["洁丽雅", "金号"], "条", "加大加厚，亲肤速干。",
      &[v("白色 / 70×140cm", "White / 70×140cm", 5990), v("蓝色 / 70×140cm", "Blue / 70×140cm", 5990)]),
    p("HOME-TEXTILE-SLIPPER", "家居拖鞋", "Home Slippers", &["回力", HOUSE_BRAND], "双", "软底防滑，居家静音。",
      &[v("灰色 / 40-41", "Grey / 40-41", 2990), v("灰色 / 42-43", "Grey / 42-43", 2990), v("粉色 / 36-37", "Pink / 36-37", 2990)]),
    p("HOME-SUPPLY", "5号碱性电池", "AA Alkaline Batteries", &["南孚", "双鹿"], "卡", "持久耐用，遥控器玩具适用。",
      &[v("4粒", "4-pack", 1990), v("8粒", "8-pack", 3590)]),
    p("HOME-SUPPLY", "7号碱性电池", "AAA Alkaline Batteries", &["南孚", "双鹿"], "卡", "持久耐用，鼠标遥控器适用。",
      &[v("4粒", "4-pack", 1990)]),
    p("HOME-SUPPLY", "折叠晴雨伞", "Folding Umbrella", &["天堂"], "把", "防晒防雨，轻巧便携。",
      &[v("黑色", "Black", 4990), v("藏青", "Navy", 4990)]),
    p("HOME-SUPPLY", "一次性纸杯", "Disposable Paper Cups", &["妙洁", HOUSE_BRAND], "包", "食品级纸杯，加厚不烫手。",
      &[v("250ml 50只", "250ml, 50 cups", 990)]),
];

// ---------------------------------------------------------------------------------------------
// Product generation
// ---------------------------------------------------------------------------------------------

/// Store codes, in [`STORES`] order.
const STORE_CODES: [&str; 4] = [
    STORES[0].code,
    STORES[1].code,
    STORES[2].code,
    STORES[3].code,
];

/// Fixed seed of the deterministic hash.
const SEED: u64 = 0x5EED_F2E5_4E16_2024;

/// SplitMix64 finaliser: a well-mixed 64-bit function of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic pseudo-random value for item `item` and purpose `salt`.
fn hash(item: u64, salt: u64) -> u64 {
    mix(SEED ^ mix(item).wrapping_add(salt.wrapping_mul(0x9E37_79B9)))
}

/// Picks a value in `lo..=hi` from `h`.
fn pick(h: u64, lo: i64, hi: i64) -> i64 {
    let span = u64::try_from(hi - lo + 1).unwrap_or(1).max(1);
    lo + i64::try_from(h % span).unwrap_or(0)
}

/// Scales a base price by `percent` and rounds it to a shelf-style price (¥x.50 steps below
/// ¥10, ¥x9.90 endings above).
fn brand_price(base: i64, percent: i64) -> i64 {
    if percent == 100 {
        return base;
    }
    let raw = base * percent / 100;
    if raw < 1000 {
        ((raw + 25) / 50 * 50).max(50)
    } else {
        (raw + 50) / 100 * 100 - 10
    }
}

/// Price factor (percent) of the `k`-th brand of a line, so competing brands differ a little.
fn brand_percent(k: usize) -> i64 {
    [100, 106, 95, 112][k % 4]
}

/// Position of a brand in [`BRANDS`] (0, the house brand, for an unknown name).
fn brand_index(brand: &str) -> usize {
    BRANDS.iter().position(|(zh, _)| *zh == brand).unwrap_or(0)
}

/// English name of a brand (the Chinese name for an unknown brand).
fn brand_en(brand: &str) -> &str {
    BRANDS
        .iter()
        .find(|(zh, _)| *zh == brand)
        .map_or(brand, |(_, en)| en)
}

/// Index of the top-level category a category code belongs to.
fn top_index(category: &str) -> usize {
    let top = category.split('-').next().unwrap_or(category);
    TOP_CATEGORIES.iter().position(|t| *t == top).unwrap_or(0)
}

/// A valid EAN-13 with a Chinese GS1 prefix: `69d` + 4-digit company number derived from the
/// brand + 5-digit item reference derived (bijectively) from the global SKU sequence number,
/// which makes every barcode unique.
fn barcode(brand: usize, seq: u64) -> String {
    let brand = brand as u64;
    let prefix = 690 + brand % 6;
    let company = 1000 + (brand * 337) % 9000;
    // 7919 is coprime to 100 000, so distinct sequence numbers give distinct item references.
    let item = (seq * 7919 + 24_683) % 100_000;
    let body = format!("{prefix:03}{company:04}{item:05}");
    let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    let check = gtin_check_digit(&digits);
    format!("{body}{check}")
}

/// Member price for about one SKU in five: 8 % off, rounded down to 10 fen.
fn member_price(seq: u64, price: i64) -> Option<i64> {
    if !hash(seq, 1).is_multiple_of(5) {
        return None;
    }
    let member = price * 92 / 100 / 10 * 10;
    (member > 0 && member < price).then_some(member)
}

/// Store price overrides for about one SKU in twenty, at one or two stores (5 % up or down).
fn store_prices(seq: u64, price: i64) -> Vec<(&'static str, i64)> {
    let h = hash(seq, 2);
    if !h.is_multiple_of(20) {
        return Vec::new();
    }
    let first = usize::try_from((h >> 8) % 4).unwrap_or(0);
    let stores = if (h >> 16).is_multiple_of(3) { 2 } else { 1 };
    (0..stores)
        .map(|i| {
            let store = (first + i) % STORE_CODES.len();
            let up = ((h >> 24) + i as u64).is_multiple_of(2);
            let mut adjusted = (price * if up { 105 } else { 95 } / 100 + 5) / 10 * 10;
            if adjusted == price {
                adjusted = if up { price + 10 } else { price - 10 };
            }
            (STORE_CODES[store], adjusted)
        })
        .collect()
}

/// One SKU's spec before numbering.
struct SkuSpec<'a> {
    zh: &'a str,
    en: &'a str,
    price_fen: i64,
    unit: &'a str,
    weighed: bool,
}

fn products() -> Vec<DemoProduct> {
    let mut products = Vec::new();
    let mut per_top = [0u32; TOP_CATEGORIES.len()];
    let mut seq: u64 = 0;
    let mut plus = FIRST_PLU..;
    for (line_no, line) in LINES.iter().enumerate() {
        let top = top_index(line.leaf);
        let branded = !line.brands.is_empty();
        let brands: &[&str] = if branded { line.brands } else { &[HOUSE_BRAND] };
        for (k, &brand) in brands.iter().enumerate() {
            per_top[top] += 1;
            let code = format!("{}{:05}", top + 1, per_top[top]);
            let (name_zh, name_en) = if branded {
                let en: Vec<&str> = [brand_en(brand), line.en]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                (format!("{brand}{}", line.zh), en.join(" "))
            } else {
                (line.zh.to_string(), line.en.to_string())
            };
            let specs: Vec<SkuSpec<'_>> = match line.kg_price_fen {
                Some(price_fen) => vec![SkuSpec {
                    zh: "散称",
                    en: "Loose, priced per kg",
                    price_fen,
                    unit: line.unit,
                    weighed: true,
                }],
                None => {
                    // The first brand of a line carries every variant; the others a varying
                    // subset, so SKU counts differ between products.
                    let n = line.variants.len().max(1);
                    let count = if k == 0 { n } else { 1 + (k + line_no) % n };
                    line.variants
                        .iter()
                        .take(count)
                        .map(|var| SkuSpec {
                            zh: var.zh,
                            en: var.en,
                            price_fen: brand_price(var.price_fen, brand_percent(k)),
                            unit: var.unit.unwrap_or(line.unit),
                            weighed: false,
                        })
                        .collect()
                }
            };
            let brand_no = brand_index(brand);
            let skus = specs
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    let sample = SAMPLE_SKU == (brand, line.zh, i);
                    let sku = DemoSku {
                        sku_code: format!("{code}-{:02}", i + 1),
                        spec_zh: spec.zh.to_string(),
                        spec_en: spec.en.to_string(),
                        barcode: if sample {
                            SAMPLE_BARCODE.to_string()
                        } else {
                            barcode(brand_no, seq)
                        },
                        plu: spec
                            .weighed
                            .then(|| plus.next().map(|n| n.to_string()))
                            .flatten(),
                        price_fen: spec.price_fen,
                        member_price_fen: member_price(seq, spec.price_fen),
                        store_prices: store_prices(seq, spec.price_fen),
                        unit: spec.unit.to_string(),
                        weighed: spec.weighed,
                    };
                    seq += 1;
                    sku
                })
                .collect();
            products.push(DemoProduct {
                description_zh: format!("{name_zh}：{}", line.desc),
                code,
                name_zh,
                name_en,
                brand: brand.to_string(),
                category: line.leaf.to_string(),
                skus,
            });
        }
    }
    products
}

// ---------------------------------------------------------------------------------------------
// Stock
// ---------------------------------------------------------------------------------------------

/// Locations that hold stock: the warehouse, then every store.
const STOCK_LOCATIONS: [&str; 5] = [
    WAREHOUSE,
    STORE_CODES[0],
    STORE_CODES[1],
    STORE_CODES[2],
    STORE_CODES[3],
];

/// One store row in this many is deliberately at or below its low-stock threshold.
const LOW_STOCK_ONE_IN: u64 = 45;

fn stock(products: &[DemoProduct]) -> Vec<DemoStock> {
    let skus = products.iter().flat_map(|p| p.skus.iter());
    let mut rows = Vec::new();
    for (seq, sku) in skus.enumerate() {
        for (loc_no, &location) in STOCK_LOCATIONS.iter().enumerate() {
            let h = hash(seq as u64, 100 + loc_no as u64);
            let (qty, thr) = (h & 0xFFFF_FFFF, h >> 32);
            let (on_hand, low_stock_threshold) = match (location == WAREHOUSE, sku.weighed) {
                // Warehouse: plenty, never low. Weighed stock in grams.
                (true, false) => (pick(qty, 250, 2000), pick(thr, 50, 150)),
                (true, true) => (pick(qty, 2000, 8000) * 100, pick(thr, 50, 150) * 1000),
                (false, weighed) => {
                    let scale = if weighed { 1000 } else { 1 };
                    let threshold = pick(thr, 5, 20) * scale;
                    let on_hand = if (h >> 20).is_multiple_of(LOW_STOCK_ONE_IN) {
                        pick(qty, 0, threshold / scale) * scale
                    } else if weighed {
                        pick(qty, 210, 800) * 100
                    } else {
                        pick(qty, threshold + 1, 120)
                    };
                    (on_hand, threshold)
                }
            };
            rows.push(DemoStock {
                location,
                sku_code: sku.sku_code.clone(),
                on_hand,
                low_stock_threshold,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn has_cjk(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    /// EAN-13 check digit computed independently of `retail_domain`.
    fn ean13_valid(code: &str) -> bool {
        let digits: Vec<u32> = code.chars().filter_map(|c| c.to_digit(10)).collect();
        if code.len() != 13 || digits.len() != 13 {
            return false;
        }
        let sum: u32 = digits[..12]
            .iter()
            .enumerate()
            .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
            .sum();
        (10 - sum % 10) % 10 == digits[12]
    }

    fn all_skus(chain: &DemoChain) -> Vec<&DemoSku> {
        chain.products.iter().flat_map(|p| p.skus.iter()).collect()
    }

    #[test]
    fn is_deterministic() {
        assert_eq!(format!("{:?}", chain()), format!("{:?}", chain()));
    }

    #[test]
    fn has_enough_products_and_skus() {
        let chain = chain();
        assert!(
            chain.products.len() >= 240,
            "{} products",
            chain.products.len()
        );
        let skus = all_skus(&chain).len();
        assert!(skus >= 350, "{skus} SKUs");
        for product in &chain.products {
            assert!((1..=3).contains(&product.skus.len()), "{}", product.code);
        }
    }

    #[test]
    fn locations_are_complete() {
        let chain = chain();
        let kinds = |kind| chain.locations.iter().filter(|l| l.kind == kind).count();
        assert_eq!(kinds(DemoLocationKind::HeadOffice), 1);
        assert_eq!(kinds(DemoLocationKind::Warehouse), 1);
        assert!(kinds(DemoLocationKind::Store) >= 4);
        let codes: HashSet<_> = chain.locations.iter().map(|l| l.code).collect();
        assert_eq!(codes.len(), chain.locations.len());
        for code in ["HQ", "WH01", "SH001", "SH002", "SH003", "HZ001"] {
            assert!(codes.contains(code), "{code}");
        }
        for l in &chain.locations {
            assert!(
                has_cjk(&l.name_zh) && has_cjk(&l.city_zh) && has_cjk(&l.address_zh),
                "{}",
                l.code
            );
            assert!(!l.name_en.is_empty());
        }
    }

    #[test]
    fn barcodes_are_valid_unique_and_chinese() {
        let chain = chain();
        let mut seen = HashSet::new();
        for sku in all_skus(&chain) {
            assert!(
                ean13_valid(&sku.barcode),
                "{} {}",
                sku.sku_code,
                sku.barcode
            );
            let prefix: u32 = sku.barcode[..3].parse().unwrap_or(0);
            assert!((690..=695).contains(&prefix), "{}", sku.barcode);
            assert!(
                seen.insert(sku.barcode.clone()),
                "duplicate barcode {}",
                sku.barcode
            );
        }
    }

    #[test]
    fn the_sample_barcode_is_a_stocked_packaged_item() {
        let chain = chain();
        assert!(retail_domain::barcode::validate_gtin(SAMPLE_BARCODE).is_ok());
        let (product, sku) = chain
            .products
            .iter()
            .flat_map(|p| p.skus.iter().map(move |s| (p, s)))
            .find(|(_, s)| s.barcode == SAMPLE_BARCODE)
            .unwrap_or_else(|| panic!("nobody has {SAMPLE_BARCODE}"));
        assert_eq!(
            (product.name_zh.as_str(), sku.spec_zh.as_str()),
            ("农夫山泉饮用天然水", "550ml")
        );
        assert!(!sku.weighed);
        for store in STORE_CODES {
            assert!(
                chain
                    .stock
                    .iter()
                    .any(|r| r.location == store && r.sku_code == sku.sku_code && r.on_hand > 0),
                "{SAMPLE_BARCODE} out of stock at {store}"
            );
        }
    }

    #[test]
    fn weighed_skus_have_scale_plus_that_labels_carry() {
        use retail_domain::barcode::{classify_product_code, ScannedCode, VariableMeasureLayout};
        let chain = chain();
        let skus = all_skus(&chain);
        let weighed: Vec<&&DemoSku> = skus.iter().filter(|s| s.weighed).collect();
        assert!(weighed.len() >= 20, "{} weighed SKUs", weighed.len());
        let mut seen = HashSet::new();
        for (n, sku) in weighed.iter().enumerate() {
            let plu = sku.plu.clone().unwrap_or_default();
            assert_eq!(
                plu,
                (FIRST_PLU as usize + n).to_string(),
                "{}",
                sku.sku_code
            );
            assert!(seen.insert(plu.clone()));
            // A scale's price label of it reads back as this PLU under the default layout.
            let label = retail_domain::barcode::ean13_from_body(&format!("20{plu}01234"))
                .unwrap_or_default();
            match classify_product_code(&label, &[VariableMeasureLayout::cn_default()]) {
                Ok(ScannedCode::VariableMeasure { plu: read, .. }) => assert_eq!(read, plu),
                other => panic!("{label}: {other:?}"),
            }
        }
        assert!(skus.iter().all(|s| s.weighed || s.plu.is_none()));
        let apples = chain
            .products
            .iter()
            .find(|p| p.name_zh == "烟台红富士苹果");
        assert_eq!(
            apples.and_then(|p| p.skus[0].plu.clone()),
            Some(FIRST_PLU.to_string())
        );
    }

    #[test]
    fn codes_are_unique() {
        let chain = chain();
        let products: HashSet<_> = chain.products.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(products.len(), chain.products.len());
        let skus = all_skus(&chain);
        let codes: HashSet<_> = skus.iter().map(|s| s.sku_code.as_str()).collect();
        assert_eq!(codes.len(), skus.len());
        let names: HashSet<_> = chain.products.iter().map(|p| p.name_zh.as_str()).collect();
        assert_eq!(names.len(), chain.products.len(), "duplicate product names");
    }

    #[test]
    fn category_tree_is_consistent() {
        let chain = chain();
        let mut known = HashSet::new();
        for c in &chain.categories {
            if let Some(parent) = &c.parent {
                assert!(
                    known.contains(parent.as_str()),
                    "{} has unknown parent {parent}",
                    c.code
                );
                assert!(c.code.starts_with(&format!("{parent}-")), "{}", c.code);
            }
            assert!(
                known.insert(c.code.as_str()),
                "duplicate category {}",
                c.code
            );
            assert!(has_cjk(&c.name_zh) && !c.name_en.is_empty(), "{}", c.code);
        }
        let parents: HashSet<_> = chain
            .categories
            .iter()
            .filter_map(|c| c.parent.as_deref())
            .collect();
        let tops: Vec<_> = chain
            .categories
            .iter()
            .filter(|c| c.parent.is_none())
            .collect();
        assert!(tops.len() >= 8);
        for top in tops {
            let children = chain
                .categories
                .iter()
                .filter(|c| c.parent.as_ref() == Some(&top.code))
                .count();
            assert!(
                (2..=4).contains(&children),
                "{} has {children} children",
                top.code
            );
        }
        assert!(
            chain
                .categories
                .iter()
                .any(|c| c.code.matches('-').count() == 2),
            "no third level"
        );
        let mut used = HashSet::new();
        for p in &chain.products {
            assert!(
                known.contains(p.category.as_str()),
                "{} in unknown {}",
                p.code,
                p.category
            );
            assert!(
                !parents.contains(p.category.as_str()),
                "{} not in a leaf",
                p.code
            );
            assert!(
                p.code
                    .starts_with(&(top_index(&p.category) + 1).to_string()),
                "{}",
                p.code
            );
            used.insert(p.category.as_str());
        }
        for c in &chain.categories {
            if !parents.contains(c.code.as_str()) {
                assert!(
                    used.contains(c.code.as_str()),
                    "leaf {} has no products",
                    c.code
                );
            }
        }
    }

    #[test]
    fn names_are_present_and_chinese() {
        let chain = chain();
        assert!(has_cjk(&chain.chain_name_zh) && !chain.chain_name_en.is_empty());
        for p in &chain.products {
            assert!(has_cjk(&p.name_zh), "{}", p.code);
            assert!(has_cjk(&p.brand), "{}", p.code);
            assert!(has_cjk(&p.description_zh), "{}", p.code);
            assert!(
                !p.name_en.trim().is_empty() && p.name_en.trim() == p.name_en,
                "{}",
                p.code
            );
            assert!(
                p.name_en.is_ascii() || p.name_en.contains("Nestlé"),
                "{}",
                p.name_en
            );
            for s in &p.skus {
                assert!(
                    !s.spec_zh.is_empty() && !s.spec_en.is_empty() && !s.unit.is_empty(),
                    "{}",
                    s.sku_code
                );
            }
        }
        for s in &chain.staff {
            assert!(has_cjk(&s.display_name), "{}", s.username);
        }
        for m in &chain.members {
            assert!(has_cjk(&m.name), "{}", m.phone);
        }
    }

    #[test]
    fn every_brand_has_an_english_name() {
        for line in LINES {
            for brand in line.brands {
                assert!(
                    BRANDS.iter().any(|(zh, _)| zh == brand),
                    "unknown brand {brand}"
                );
            }
        }
        let names: HashSet<_> = BRANDS.iter().map(|(zh, _)| zh).collect();
        assert_eq!(names.len(), BRANDS.len());
    }

    #[test]
    fn prices_are_plausible() {
        let chain = chain();
        let skus = all_skus(&chain);
        let stores: HashSet<_> = STORE_CODES.iter().copied().collect();
        let (mut member, mut store) = (0usize, 0usize);
        for s in &skus {
            assert!(
                s.price_fen >= 100 && s.price_fen <= 200_000,
                "{} {}",
                s.sku_code,
                s.price_fen
            );
            if let Some(m) = s.member_price_fen {
                assert!(m > 0 && m < s.price_fen, "{}", s.sku_code);
                member += 1;
            }
            if !s.store_prices.is_empty() {
                store += 1;
            }
            let overridden: HashSet<_> = s.store_prices.iter().map(|(code, _)| *code).collect();
            assert_eq!(overridden.len(), s.store_prices.len(), "{}", s.sku_code);
            for (code, price) in &s.store_prices {
                assert!(
                    stores.contains(code) && *price > 0 && *price != s.price_fen,
                    "{}",
                    s.sku_code
                );
            }
            assert_eq!(s.weighed, s.unit == "kg", "{}", s.sku_code);
        }
        assert!(skus.iter().any(|s| s.weighed));
        let share = |n: usize| n * 100 / skus.len();
        assert!(
            (12..=30).contains(&share(member)),
            "member prices on {}%",
            share(member)
        );
        assert!(
            (2..=10).contains(&share(store)),
            "store prices on {}%",
            share(store)
        );
        let water = chain
            .products
            .iter()
            .find(|p| p.name_zh == "农夫山泉饮用天然水");
        assert_eq!(water.map(|p| p.skus[0].price_fen), Some(200));
    }

    #[test]
    fn every_store_is_staffed() {
        let chain = chain();
        let usernames: HashSet<_> = chain.staff.iter().map(|s| s.username.as_str()).collect();
        assert_eq!(usernames.len(), chain.staff.len());
        assert!(chain.staff.iter().any(|s| s.username == "admin"
            && s.role == DemoRole::HeadOfficeAdmin
            && s.store.is_none()));
        for s in &chain.staff {
            assert_eq!(s.password, "demo1234");
            assert_eq!(
                s.store.is_none(),
                s.role == DemoRole::HeadOfficeAdmin,
                "{}",
                s.username
            );
        }
        for l in chain
            .locations
            .iter()
            .filter(|l| l.kind == DemoLocationKind::Store)
        {
            let count = |role| {
                chain
                    .staff
                    .iter()
                    .filter(|s| s.store == Some(l.code) && s.role == role)
                    .count()
            };
            assert_eq!(count(DemoRole::StoreManager), 1, "{}", l.code);
            assert!(count(DemoRole::Cashier) >= 2, "{}", l.code);
        }
        assert!(usernames.contains("mgr.sh001") && usernames.contains("cashier1.sh001"));
    }

    #[test]
    fn members_are_plausible() {
        let chain = chain();
        assert_eq!(chain.members.len(), 8);
        let phones: HashSet<_> = chain.members.iter().map(|m| m.phone.as_str()).collect();
        assert_eq!(phones.len(), chain.members.len());
        for m in &chain.members {
            assert!(
                m.phone.len() == 11
                    && m.phone.starts_with('1')
                    && m.phone.bytes().all(|b| b.is_ascii_digit())
            );
            assert!((0..=25_000).contains(&m.growth) && m.points >= 0 && m.balance_fen >= 0);
        }
    }

    #[test]
    fn every_sku_is_stocked_everywhere_but_head_office() {
        let chain = chain();
        let stocked: Vec<&str> = chain
            .locations
            .iter()
            .filter(|l| l.kind != DemoLocationKind::HeadOffice)
            .map(|l| l.code)
            .collect();
        let mut rows: HashMap<(&str, &str), &DemoStock> = HashMap::new();
        for row in &chain.stock {
            assert!(stocked.contains(&row.location), "stock at {}", row.location);
            assert!(row.on_hand >= 0 && row.low_stock_threshold > 0);
            assert!(
                rows.insert((row.location, row.sku_code.as_str()), row)
                    .is_none(),
                "duplicate row"
            );
        }
        let skus = all_skus(&chain);
        assert_eq!(chain.stock.len(), skus.len() * stocked.len());
        for sku in &skus {
            for &location in &stocked {
                let row = rows.get(&(location, sku.sku_code.as_str()));
                assert!(row.is_some(), "{} missing at {location}", sku.sku_code);
                if let (Some(row), true) = (row, sku.weighed && location != WAREHOUSE) {
                    assert!(
                        row.low_stock_threshold >= 5_000,
                        "weighed stock is in grams"
                    );
                }
            }
        }
        for &store in &STORE_CODES {
            let low = chain
                .stock
                .iter()
                .filter(|r| r.location == store && r.on_hand <= r.low_stock_threshold)
                .count();
            assert!(
                (3..=skus.len() / 10).contains(&low),
                "{store} has {low} low rows"
            );
        }
        assert!(chain
            .stock
            .iter()
            .filter(|r| r.location == WAREHOUSE)
            .all(|r| r.on_hand > r.low_stock_threshold));
    }
}
