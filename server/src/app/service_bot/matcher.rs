//! The service bot's matcher, pure (no database, no state): text normalisation and
//! tokenisation, the FAQ ranking index, and the rule-based intents (hand over, order questions).
//!
//! **Tokens.** Text is normalised (full-width ASCII to half-width, lower-cased). Runs of Chinese
//! characters are segmented with jieba (`cut_for_search`, HMM on: the long words and the
//! dictionary words inside them) and also give their character bigrams (weighted
//! [`BIGRAM_WEIGHT`]: they survive typos such as 优惠卷 for 优惠券 and segmentation
//! differences); runs of ASCII letters and digits give lower-cased words with a light English
//! stemming (plural `s`, `ing`, `ed`). Stop words (particles, pronouns, "the", "is", …) are
//! dropped.
//!
//! **Ranking.** Each enabled entry is one document made of its Chinese and English question,
//! its example phrasings and its keywords. A question scores every document sharing a token
//! with Okapi BM25 (`k1` = [`K1`], `b` = [`B`]: a low length penalty, since more examples mean
//! more ways of asking, not a vaguer entry). The score is divided by the question's own weight
//! (the sum of its tokens' IDF, tokens unknown to the knowledge base counted at
//! [`UNKNOWN_IDF_SHARE`] of the highest IDF), so it reads as "how much of the question this
//! entry explains", about 0 to 1. Each keyword of the entry found in the question adds
//! [`KEYWORD_BOOST`] (at most two). The best entry answers when its score reaches the configured
//! minimum (`[service_bot] min_score`); otherwise the bot hands over.

use std::collections::HashMap;
use std::sync::LazyLock;

use jieba_rs::Jieba;

/// BM25 term-frequency saturation.
pub const K1: f32 = 1.2;
/// BM25 length normalisation (low: see the module).
pub const B: f32 = 0.3;
/// Weight of a Chinese character bigram against a word.
pub const BIGRAM_WEIGHT: f32 = 0.35;
/// Weight of a single Chinese character against a word.
pub const UNIGRAM_WEIGHT: f32 = 0.15;
/// Weight of the answers' tokens against the questions'.
pub const ANSWER_WEIGHT: f32 = 0.3;
/// Added to an entry's score for each of its keywords found in the question (at most two).
pub const KEYWORD_BOOST: f32 = 0.2;
/// Share of the highest IDF a token unknown to the knowledge base weighs in the question.
pub const UNKNOWN_IDF_SHARE: f32 = 0.6;

static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Loads the segmentation dictionary now (it is otherwise loaded by the first question).
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

const ZH_STOP: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "嘛",
    "哦",
    "噢",
    "哈",
    "么",
    "我",
    "你",
    "您",
    "我们",
    "你们",
    "他",
    "她",
    "它",
    "是",
    "在",
    "就",
    "都",
    "也",
    "还",
    "和",
    "与",
    "或",
    "要",
    "请",
    "请问",
    "一下",
    "一个",
    "这",
    "那",
    "这个",
    "那个",
    "有",
    "没",
    "不",
    "个",
    "着",
    "过",
    "能",
    "会",
    "可以",
    "想",
    "给",
    "把",
    "被",
    "让",
    "得",
    "地",
    "之",
    "又",
    "很",
    "太",
    "啥",
    "怎么",
    "怎么样",
    "怎样",
    "什么",
    "如何",
    "为什么",
    "为啥",
    "咋",
    "咋办",
    "怎么办",
    "一般",
    "大概",
    "现在",
    "已经",
    "多少",
    "几",
    "吗?",
    "上",
    "下",
    "里",
    "家",
    "东西",
    "好",
    "对",
];

/// Single characters that say nothing alone (their words still count).
const ZH_STOP_CHARS: &str = "的了吗呢吧啊呀嘛哦么我你您他她它们是在就都也还和与或要请这那个一不没有着过能会可以想给把被让得地之又很太啥怎什为如何哪里儿去来到吗么样办时候用现已经";

/// Common misspellings of the shop's words (homophones typed by pinyin input), corrected
/// before tokenising.
const MISSPELLINGS: &[(&str, &str)] = &[
    ("优惠卷", "优惠券"),
    ("冲值", "充值"),
    ("积份", "积分"),
    ("帐号", "账号"),
    ("帐户", "账户"),
    ("发漂", "发票"),
];

const EN_STOP: &[&str] = &[
    "a", "an", "the", "is", "are", "am", "was", "were", "be", "been", "do", "does", "did", "i",
    "me", "my", "you", "your", "we", "our", "us", "it", "its", "to", "of", "in", "on", "at", "for",
    "and", "or", "can", "could", "would", "will", "shall", "should", "how", "what", "why", "when",
    "where", "which", "who", "there", "this", "that", "with", "from", "by", "as", "if", "so",
    "any", "get", "have", "has", "had", "please", "pls", "hi", "hello", "thank", "thanks", "not",
    "no", "yes", "about", "much", "many", "some", "just", "up", "out", "than", "too",
];

/// A text normalised for matching: full-width ASCII to half-width, ideographic space to space,
/// lower-cased.
pub fn normalise(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    for (wrong, right) in MISSPELLINGS {
        if out.contains(wrong) {
            out = out.replace(wrong, right);
        }
    }
    out
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

fn stem(word: &str) -> String {
    let n = word.len();
    if n > 5 && word.ends_with("ing") {
        return word[..n - 3].to_owned();
    }
    if n > 4 && word.ends_with("ed") {
        return word[..n - 2].to_owned();
    }
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..n - 3]);
    }
    if n > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..n - 1].to_owned();
    }
    word.to_owned()
}

/// The weighted tokens of a text (see the module): `(token, weight)`, repeats kept.
pub fn tokens(text: &str) -> Vec<(String, f32)> {
    let text = normalise(text);
    let mut out = Vec::new();
    let mut run = String::new();
    let mut run_han = false;
    let flush = |run: &mut String, han: bool, out: &mut Vec<(String, f32)>| {
        if run.is_empty() {
            return;
        }
        if han {
            for token in JIEBA.cut_for_search(run, true) {
                let w = token.word;
                if !ZH_STOP.contains(&w) {
                    out.push((w.to_owned(), 1.0));
                }
            }
            let chars: Vec<char> = run.chars().collect();
            for pair in chars.windows(2) {
                out.push((format!("#{}{}", pair[0], pair[1]), BIGRAM_WEIGHT));
            }
            for c in chars.iter().filter(|c| !ZH_STOP_CHARS.contains(**c)) {
                out.push((format!("~{c}"), UNIGRAM_WEIGHT));
            }
        } else if run.len() > 1 && !EN_STOP.contains(&run.as_str()) {
            out.push((stem(run), 1.0));
        }
        run.clear();
    };
    for c in text.chars() {
        let han = is_han(c);
        let word = c.is_ascii_alphanumeric();
        if han || word {
            if !run.is_empty() && han != run_han {
                flush(&mut run, run_han, &mut out);
            }
            run_han = han;
            run.push(c);
        } else {
            flush(&mut run, run_han, &mut out);
        }
    }
    flush(&mut run, run_han, &mut out);
    out
}

/// What an entry brings to the index.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// The entry's id.
    pub id: i64,
    /// Its questions and example phrasings.
    pub phrasings: Vec<String>,
    /// Its keywords.
    pub keywords: Vec<String>,
    /// Its answers (weighted [`ANSWER_WEIGHT`]).
    pub answers: Vec<String>,
}

#[derive(Debug)]
struct Doc {
    id: i64,
    len: f32,
    /// Keywords with their boost (by how few entries' texts hold them).
    keywords: Vec<(String, f32)>,
}

/// The ranking index over the enabled entries (see the module).
#[derive(Debug, Default)]
pub struct FaqIndex {
    vocab: HashMap<String, u32>,
    idf: Vec<f32>,
    postings: Vec<Vec<(u32, f32)>>,
    docs: Vec<Doc>,
    max_idf: f32,
}

/// One ranked entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranked {
    /// The entry's id.
    pub id: i64,
    /// Its score (about 0 to 1, keyword boosts on top).
    pub score: f32,
}

impl FaqIndex {
    /// Builds the index.
    pub fn build(entries: &[IndexEntry]) -> Self {
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut docs = Vec::with_capacity(entries.len());
        let mut total_len = 0.0;
        for (d, e) in entries.iter().enumerate() {
            let d = u32::try_from(d).unwrap_or(u32::MAX);
            let mut tf: HashMap<u32, f32> = HashMap::new();
            let mut len = 0.0;
            let texts = e
                .phrasings
                .iter()
                .chain(e.keywords.iter())
                .map(|t| (t, 1.0))
                .chain(e.answers.iter().map(|t| (t, ANSWER_WEIGHT)));
            for (text, weight) in texts {
                for (token, w) in tokens(text) {
                    let w = w * weight;
                    let next = u32::try_from(vocab.len()).unwrap_or(u32::MAX);
                    let t = *vocab.entry(token).or_insert(next);
                    if t == next {
                        postings.push(Vec::new());
                    }
                    *tf.entry(t).or_insert(0.0) += w;
                    len += w;
                }
            }
            for (t, f) in tf {
                postings[t as usize].push((d, f));
            }
            total_len += len;
            docs.push(Doc {
                id: e.id,
                len,
                keywords: e
                    .keywords
                    .iter()
                    .map(|k| (normalise(k.trim()), 0.0))
                    .filter(|(k, _)| k.chars().count() >= 2)
                    .collect(),
            });
        }
        let n = docs.len() as f32;
        // A keyword's boost falls with the number of entries whose texts hold it.
        let texts: Vec<String> = entries
            .iter()
            .map(|e| normalise(&e.phrasings.join(" ")))
            .collect();
        let max_idf = (1.0 + (n + 0.5) / 0.5).ln();
        // Each posting keeps its BM25 term-frequency part (the query multiplies in the IDF).
        let avg_len = if docs.is_empty() {
            1.0
        } else {
            (total_len / n).max(1e-6)
        };
        for list in &mut postings {
            for (d, f) in list.iter_mut() {
                let norm = K1 * (1.0 - B + B * docs[*d as usize].len / avg_len);
                *f = *f * (K1 + 1.0) / (*f + norm);
            }
        }
        let mut keyword_df: HashMap<String, f32> = HashMap::new();
        for doc in &docs {
            for (k, _) in &doc.keywords {
                if !keyword_df.contains_key(k) {
                    let df = texts
                        .iter()
                        .filter(|t| t.contains(k.as_str()))
                        .count()
                        .max(1);
                    keyword_df.insert(k.clone(), df as f32);
                }
            }
        }
        for doc in &mut docs {
            for (k, boost) in &mut doc.keywords {
                let df = keyword_df.get(k.as_str()).copied().unwrap_or(1.0);
                *boost = KEYWORD_BOOST * (1.0 + (n - df + 0.5) / (df + 0.5)).ln() / max_idf;
            }
        }
        let idf: Vec<f32> = postings
            .iter()
            .map(|p| {
                let df = p.len() as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        Self {
            vocab,
            idf,
            postings,
            docs,
            max_idf,
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The best `n` entries for a question, best first (ties by lower id).
    pub fn rank(&self, question: &str, n: usize) -> Vec<Ranked> {
        if self.docs.is_empty() {
            return Vec::new();
        }
        let mut weights: HashMap<&str, f32> = HashMap::new();
        let toks = tokens(question);
        for (t, w) in &toks {
            let e = weights.entry(t.as_str()).or_insert(0.0);
            *e = e.max(*w);
        }
        let mut scores = vec![0.0f32; self.docs.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut own = 0.0;
        for (token, qw) in &weights {
            match self.vocab.get(*token) {
                Some(&t) => {
                    let idf = self.idf[t as usize];
                    own += qw * idf;
                    for &(d, part) in &self.postings[t as usize] {
                        let slot = &mut scores[d as usize];
                        if *slot == 0.0 {
                            touched.push(d);
                        }
                        *slot += qw * idf * part;
                    }
                }
                None => own += qw * self.max_idf * UNKNOWN_IDF_SHARE,
            }
        }
        let text = normalise(question);
        let own = own.max(1e-6);
        let mut ranked: Vec<Ranked> = touched
            .iter()
            .map(|&d| {
                let doc = &self.docs[d as usize];
                Ranked {
                    id: doc.id,
                    score: scores[d as usize] / own + keyword_boost(doc, &text),
                }
            })
            .collect();
        let order = |a: &Ranked, b: &Ranked| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id));
        if n > 0 && ranked.len() > n {
            ranked.select_nth_unstable_by(n - 1, order);
            ranked.truncate(n);
        }
        ranked.sort_by(order);
        ranked.truncate(n);
        ranked
    }
}

/// The boost of an entry's keywords found in the (normalised) question: the two largest.
fn keyword_boost(doc: &Doc, text: &str) -> f32 {
    let (mut first, mut second) = (0.0f32, 0.0f32);
    for (k, b) in &doc.keywords {
        if *b > second && text.contains(k.as_str()) {
            if *b > first {
                second = first;
                first = *b;
            } else {
                second = *b;
            }
        }
    }
    first + second
}

/// What the rules recognise in a question before the knowledge base is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The shopper asks for a person.
    AskedForPerson,
    /// A hand-over keyword (a complaint, a lawyer, …).
    HandoverKeyword,
    /// "Where is my order?"
    OrderStatus,
    /// "When can I pick it up?"
    OrderPickup,
    /// "How do I return this?"
    OrderReturn,
}

/// Words asking for a person.
pub const ASK_FOR_PERSON: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "找人工",
    "要人工",
    "接人工",
    "真人",
    "找客服",
    "转客服",
    "联系人工",
    "人工",
    "human",
    "real person",
    "live agent",
    "talk to an agent",
    "speak to an agent",
    "speak to someone",
    "talk to someone",
    "agent please",
    "an agent",
    "operator",
    "representative",
];

const OWN: &[&str] = &[
    "我的",
    "我买的",
    "我下的",
    "我订的",
    "我刚买",
    "我刚下",
    "我昨天",
    "我今天",
    "我前天",
    "我上周",
    "我那",
    "这单",
    "我这单",
    "这个订单",
    "那个订单",
    "订单号",
    "我的单",
    "my ",
    "i ordered",
    "i bought",
    "i placed",
    "this order",
    "i purchased",
];
const STATUS: &[&str] = &[
    "到哪",
    "在哪",
    "到了没",
    "到了吗",
    "什么时候到",
    "啥时候到",
    "几时到",
    "还没到",
    "没到",
    "还没收到",
    "没收到",
    "发货了吗",
    "发货了没",
    "发货没",
    "发了吗",
    "发了没",
    "物流",
    "快递",
    "进度",
    "状态",
    "派送",
    "送到哪",
    "到没到",
    "where is",
    "where's",
    "track",
    "status",
    "shipped",
    "arrive",
    "arrived",
    "on its way",
    "haven't received",
    "not received",
];
const PICKUP: &[&str] = &[
    "自提",
    "提货",
    "取货",
    "到店取",
    "去店里拿",
    "去拿",
    "店里取",
    "可以取",
    "能取",
    "去取",
    "pick up",
    "pickup",
    "pick it up",
    "collect",
];
const PICKUP_WHEN: &[&str] = &[
    "什么时候",
    "啥时候",
    "几点",
    "好了",
    "准备好",
    "备好",
    "能取了",
    "可以取了",
    "截止",
    "最晚",
    "when",
    "ready",
    "deadline",
    "until",
];
const RETURN: &[&str] = &[
    "退货",
    "退掉",
    "退了",
    "怎么退",
    "想退",
    "要退",
    "申请售后",
    "退换",
    "换货",
    "return",
    "send back",
    "send it back",
    "exchange",
];
const RETURN_OWN: &[&str] = &[
    "我买的",
    "刚买的",
    "这个",
    "这件",
    "这单",
    "我的订单",
    "我的",
    "this",
    " it",
    "my order",
    "i bought",
    "i ordered",
];

fn any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

/// The rule a question falls under, if any: asking for a person first, then the hand-over
/// keywords (`handover_keywords`, already normalised), then the order questions — which need
/// the question to be about the shopper's own order (a possessive such as 我的 / "my", or
/// `has_order`: the chat named an order).
pub fn rule(question: &str, handover_keywords: &[String], has_order: bool) -> Option<Rule> {
    let text = normalise(question);
    if any(&text, ASK_FOR_PERSON) {
        return Some(Rule::AskedForPerson);
    }
    if handover_keywords
        .iter()
        .any(|k| !k.is_empty() && text.contains(k.as_str()))
    {
        return Some(Rule::HandoverKeyword);
    }
    let own = has_order || any(&text, OWN);
    if any(&text, PICKUP) && (own && any(&text, PICKUP_WHEN)) {
        return Some(Rule::OrderPickup);
    }
    if any(&text, RETURN) && (has_order || any(&text, RETURN_OWN)) {
        return Some(Rule::OrderReturn);
    }
    if own && any(&text, STATUS) {
        return Some(Rule::OrderStatus);
    }
    if own && (text.contains("订单") || text.contains("order")) && any(&text, PICKUP_WHEN) {
        return Some(Rule::OrderStatus);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalised_and_tokenised() {
        assert_eq!(normalise("ＡＢＣ　Order"), "abc order");
        assert_eq!(normalise("优惠卷"), "优惠券");
        let t: Vec<String> = tokens("Where are my Orders?")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(t, ["order"]);
        let t: Vec<String> = tokens("运费多少钱").into_iter().map(|(t, _)| t).collect();
        assert!(t.contains(&"运费".to_owned()), "{t:?}");
        assert!(t.contains(&"#运费".to_owned()), "{t:?}");
    }

    #[test]
    fn the_closest_entry_ranks_first() {
        let index = FaqIndex::build(&[
            IndexEntry {
                id: 1,
                phrasings: vec!["配送费怎么收".into(), "运费多少钱".into()],
                keywords: vec!["运费".into()],
                answers: vec![],
            },
            IndexEntry {
                id: 2,
                phrasings: vec!["积分怎么用".into(), "积分能抵钱吗".into()],
                keywords: vec!["积分".into()],
                answers: vec![],
            },
        ]);
        assert_eq!(index.rank("运费是多少", 1)[0].id, 1);
        assert_eq!(index.rank("我的积份可以抵现吗", 1)[0].id, 2);
        assert!(index.rank("今天天气", 1).is_empty());
    }

    #[test]
    fn rules_recognise_intents() {
        let kw = vec!["投诉".to_owned(), "complaint".to_owned()];
        assert_eq!(rule("转人工", &kw, false), Some(Rule::AskedForPerson));
        assert_eq!(rule("我要投诉", &kw, false), Some(Rule::HandoverKeyword));
        assert_eq!(rule("我的订单到哪了", &kw, false), Some(Rule::OrderStatus));
        assert_eq!(
            rule("where is my order", &kw, false),
            Some(Rule::OrderStatus)
        );
        assert_eq!(
            rule("我的自提订单什么时候能取", &kw, false),
            Some(Rule::OrderPickup)
        );
        assert_eq!(
            rule("how do i return this", &kw, false),
            Some(Rule::OrderReturn)
        );
        assert_eq!(rule("运费多少钱", &kw, false), None);
        assert_eq!(rule("退货政策是什么", &kw, false), None);
    }
}
