//! Turns the load benchmark's results JSON (written by `scripts/bench`) into a Markdown report
//! (medians over rounds, ratios microweb/peer, latency, errors, memory, presets, the issue's
//! targets) and a PNG bar chart drawn with plotters' bitmap backend.
//!
//! In scope: aggregation (medians, ratios) and presentation. Out of scope: running anything.
//! Text in the PNG uses DejaVu Sans shipped inside the `dejavu` crate, so no system font is needed.
//!
//! Run: `report RESULTS.json OUT.md OUT.png` (also prints the Markdown on stdout).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use serde::Deserialize;

/// The results file as `scripts/bench` writes it.
#[derive(Debug, Deserialize)]
struct Results {
    meta: Meta,
    #[serde(default)]
    runs: Vec<Run>,
    #[serde(default)]
    memory: Vec<Memory>,
    #[serde(default)]
    presets: Vec<PresetRun>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    date: String,
    cores: u32,
    rounds: u32,
    duration: String,
    wrk_threads: u32,
    quick: bool,
    servers: Vec<String>,
    tests: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
}

/// One wrk run of one server on one test.
#[derive(Debug, Deserialize)]
struct Run {
    test: String,
    server: String,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    non2xx: u64,
    socket_errors: u64,
    #[serde(default)]
    peak_rss_kib: Option<u64>,
    /// The server's CPU time (user + system) per request, in µs.
    #[serde(default)]
    cpu_us_per_req: Option<f64>,
    /// The kernel (system) part of `cpu_us_per_req`, in µs.
    #[serde(default)]
    sys_us_per_req: Option<f64>,
    /// wrk's CPU time (user + system) per request, in µs.
    #[serde(default)]
    client_cpu_us_per_req: Option<f64>,
}

/// RSS of one server before and while `holdconns` holds idle keep-alive connections.
#[derive(Debug, Deserialize)]
struct Memory {
    server: String,
    target: u64,
    held: u64,
    failed: u64,
    rss_before_kib: u64,
    rss_with_kib: u64,
    #[serde(default)]
    threads_with: Option<u64>,
    #[serde(default)]
    budget_kib: Option<u64>,
}

/// One wrk run of microweb under one preset.
#[derive(Debug, Deserialize)]
struct PresetRun {
    preset: String,
    conns: u64,
    rps: f64,
    p99_us: f64,
    non2xx: u64,
    socket_errors: u64,
    #[serde(default)]
    peak_rss_kib: Option<u64>,
    budget_kib: u64,
    alive: bool,
    answers_after: bool,
}

const US: &str = "microweb";

/// Medians over rounds for one (test, server).
#[derive(Debug, Clone, Copy)]
struct Summary {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    peak_rss_kib: Option<u64>,
    cpu_us_per_req: Option<f64>,
    sys_us_per_req: Option<f64>,
    client_cpu_us_per_req: Option<f64>,
    rounds: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The median of the values there are, or `None` when there are none.
fn median_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| median(v))
}

fn summarise(runs: &[Run]) -> BTreeMap<(String, String), Summary> {
    let mut groups: BTreeMap<(String, String), Vec<&Run>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.test.clone(), r.server.clone()))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let s = Summary {
                rps: median(rs.iter().map(|r| r.rps).collect()),
                p50_us: median(rs.iter().map(|r| r.p50_us).collect()),
                p99_us: median(rs.iter().map(|r| r.p99_us).collect()),
                errors: rs.iter().map(|r| r.non2xx + r.socket_errors).sum(),
                peak_rss_kib: rs.iter().filter_map(|r| r.peak_rss_kib).max(),
                cpu_us_per_req: median_of(rs.iter().filter_map(|r| r.cpu_us_per_req)),
                sys_us_per_req: median_of(rs.iter().filter_map(|r| r.sys_us_per_req)),
                client_cpu_us_per_req: median_of(
                    rs.iter().filter_map(|r| r.client_cpu_us_per_req),
                ),
                rounds: rs.len(),
            };
            (k, s)
        })
        .collect()
}

/// The ratios microweb would reach on this machine if its own code took no time at all: each
/// request still costs the kernel work measured for microweb and the client's CPU, and req/s is
/// about cores / (server + client CPU per request). A target above its ceiling cannot be met
/// here by any server making the same system calls.
fn ceilings(
    test: &str,
    us: &Summary,
    peers: &[&String],
    get: impl Fn(&str, &str) -> Option<Summary>,
) -> Option<String> {
    let floor = us.sys_us_per_req? + us.client_cpu_us_per_req?;
    let parts: Vec<String> = peers
        .iter()
        .filter_map(|p| {
            let x = get(test, p)?;
            let cost = x.cpu_us_per_req? + x.client_cpu_us_per_req?;
            Some(format!("{:.2}× {p}", cost / floor))
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "ceiling here (microweb's kernel time {} + wrk's {} per request, no user time): {}",
            fmt_cpu(us.sys_us_per_req),
            fmt_cpu(us.client_cpu_us_per_req),
            parts.join(", ")
        )
    })
}

/// A CPU time per request, or a dash when it was not measured.
fn fmt_cpu(us: Option<f64>) -> String {
    us.map_or("—".into(), |c| format!("{c:.1} µs"))
}

fn test_label(test: &str) -> String {
    match test.rsplit_once('-') {
        Some((kind, conns)) => {
            let kind = match kind {
                "static" => "static 4 KiB",
                "pipelined" => "plaintext pipelined ×16",
                other => other,
            };
            let conns: u64 = conns.parse().unwrap_or(0);
            if conns >= 1000 {
                format!("{kind}, {},{:03} conns", conns / 1000, conns % 1000)
            } else {
                format!("{kind}, {conns} conns")
            }
        }
        None => test.to_owned(),
    }
}

fn fmt_rps(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn fmt_us(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

fn fmt_kib(v: u64) -> String {
    if v >= 4 * 1024 {
        format!("{:.1} MiB", v as f64 / 1024.0)
    } else {
        format!("{v} KiB")
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "**no**" }
}

fn markdown(res: &Results, sums: &BTreeMap<(String, String), Summary>) -> String {
    let m = &res.meta;
    let get = |t: &str, s: &str| sums.get(&(t.to_owned(), s.to_owned())).copied();
    let has_us = m.servers.iter().any(|s| s == US);
    let peers: Vec<&String> = m.servers.iter().filter(|s| *s != US).collect();
    // The peer that spends the least CPU per request on a test, and how much.
    let lowest_cpu_peer = |t: &str| {
        peers
            .iter()
            .filter_map(|p| Some((p.as_str(), get(t, p)?.cpu_us_per_req?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let mut o = String::new();
    let _ = writeln!(o, "## Load benchmark, {}\n", m.date);
    let _ = writeln!(
        o,
        "{} cores; wrk -t{} --latency, keep-alive, all on 127.0.0.1; {} round(s) of {} per test and \
         server, servers in turn (A B C D …); req/s, p50 and p99 are medians over rounds, errors \
         (non-2xx + socket errors) are summed.{}\n",
        m.cores,
        m.wrk_threads,
        m.rounds,
        m.duration,
        if m.quick {
            " **QUICK mode: indicative only.**"
        } else {
            ""
        }
    );
    for n in &m.notes {
        let _ = writeln!(o, "> {n}\n");
    }

    // Throughput and ratios.
    let _ = write!(o, "### Requests per second (median)\n\n| test |");
    for s in &m.servers {
        let _ = write!(o, " {s} |");
    }
    if has_us {
        for p in &peers {
            let _ = write!(o, " {US}/{p} |");
        }
    }
    let _ = write!(o, "\n| --- |");
    let cols = m.servers.len() + if has_us { peers.len() } else { 0 };
    for _ in 0..cols {
        let _ = write!(o, " ---: |");
    }
    o.push('\n');
    for t in &m.tests {
        let _ = write!(o, "| {} |", test_label(t));
        for s in &m.servers {
            let _ = write!(o, " {} |", get(t, s).map_or("—".into(), |x| fmt_rps(x.rps)));
        }
        if has_us {
            for p in &peers {
                let r = match (get(t, US), get(t, p)) {
                    (Some(a), Some(b)) if b.rps > 0.0 => format!("{:.2}×", a.rps / b.rps),
                    _ => "—".into(),
                };
                let _ = write!(o, " {r} |");
            }
        }
        o.push('\n');
    }

    // Server CPU per request: the headline figure where wrk shares the cores.
    if has_us && !peers.is_empty() {
        let _ = write!(
            o,
            "\n### Server CPU per request (median; lower is better)\n\n\
             What each request costs the server, user + kernel: the figure the shared cores do not \
             compress (req/s does, see below).\n\n| test |"
        );
        for s in &m.servers {
            let _ = write!(o, " {s} |");
        }
        let _ = write!(o, " {US} / lowest peer |\n| --- |");
        for _ in 0..=m.servers.len() {
            let _ = write!(o, " ---: |");
        }
        o.push('\n');
        for t in &m.tests {
            let _ = write!(o, "| {} |", test_label(t));
            for s in &m.servers {
                let _ = write!(o, " {} |", fmt_cpu(get(t, s).and_then(|x| x.cpu_us_per_req)));
            }
            let ratio = match (get(t, US).and_then(|x| x.cpu_us_per_req), lowest_cpu_peer(t)) {
                (Some(us), Some((name, cpu))) if cpu > 0.0 => format!("{:.2}× ({name})", us / cpu),
                _ => "—".into(),
            };
            let _ = writeln!(o, " {ratio} |");
        }
    }

    // Latency and errors.
    let _ = writeln!(
        o,
        "\n### Latency (median p50 / p99 over rounds), CPU per request (median) and errors (sum)\n\n\
         Server CPU is the server process's user + system time during the run over the requests \
         answered: unlike req/s it hardly moves with what else the machine runs; its kernel part \
         is the time in system calls (receiving, sending, the TCP stack, waking the client). wrk \
         CPU is the load generator's, on the same cores: req/s is about cores / (server + wrk \
         CPU per request), so a server that costs less gains less than in proportion.\n\n\
         | test | server | req/s | p50 | p99 | server CPU / req | of which kernel | wrk CPU / req | errors | rounds |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for t in &m.tests {
        for s in &m.servers {
            if let Some(x) = get(t, s) {
                let _ = writeln!(
                    o,
                    "| {} | {s} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    test_label(t),
                    fmt_rps(x.rps),
                    fmt_us(x.p50_us),
                    fmt_us(x.p99_us),
                    fmt_cpu(x.cpu_us_per_req),
                    fmt_cpu(x.sys_us_per_req),
                    fmt_cpu(x.client_cpu_us_per_req),
                    x.errors,
                    x.rounds
                );
            } else {
                let _ = writeln!(
                    o,
                    "| {} | {s} | — | — | — | — | — | — | did not run | 0 |",
                    test_label(t)
                );
            }
        }
    }

    // Memory.
    if !res.memory.is_empty() {
        let load_test = m.tests.iter().find(|t| t.ends_with("-1000"));
        let _ = writeln!(
            o,
            "\n### Memory\n\nIdle: RSS (VmRSS) before and while `holdconns` holds keep-alive connections \
             that each completed one request. Under load: peak VmRSS sampled during the {} runs.\n\n\
             | server | idle conns held | RSS before | RSS holding | per idle conn | threads holding | peak RSS under load | budget + 8 MiB |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            load_test.map_or("1,000-connection".into(), |t| test_label(t))
        );
        for mem in &res.memory {
            let per = if mem.held > 0 {
                format!(
                    "{:.2} KiB",
                    mem.rss_with_kib.saturating_sub(mem.rss_before_kib) as f64 / mem.held as f64
                )
            } else {
                "—".into()
            };
            let peak = load_test
                .and_then(|t| get(t, &mem.server))
                .and_then(|x| x.peak_rss_kib);
            let budget = match (mem.budget_kib, peak) {
                (Some(b), Some(p)) => {
                    format!("{} ≤ {}: {}", fmt_kib(p), fmt_kib(b), yes_no(p <= b))
                }
                (Some(b), None) => format!("≤ {}", fmt_kib(b)),
                _ => "—".into(),
            };
            let held = if mem.held == mem.target && mem.failed == 0 {
                mem.held.to_string()
            } else {
                format!("{} of {} ({} failed)", mem.held, mem.target, mem.failed)
            };
            let _ = writeln!(
                o,
                "| {} | {held} | {} | {} | {per} | {} | {} | {budget} |",
                mem.server,
                fmt_kib(mem.rss_before_kib),
                fmt_kib(mem.rss_with_kib),
                mem.threads_with.map_or("—".into(), |t| t.to_string()),
                peak.map_or("—".into(), fmt_kib),
            );
        }
    }

    // Presets.
    if !res.presets.is_empty() {
        let _ = writeln!(
            o,
            "\n### microweb presets, plaintext (one round each)\n\n\
             | preset | conns | req/s | p99 | non-2xx | socket errors | peak RSS | ≤ slot budget + 8 MiB | still running | answers a request after |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"
        );
        for p in &res.presets {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                p.preset,
                p.conns,
                fmt_rps(p.rps),
                fmt_us(p.p99_us),
                p.non2xx,
                p.socket_errors,
                p.peak_rss_kib.map_or("—".into(), fmt_kib),
                p.peak_rss_kib.map_or("—".into(), |r| format!(
                    "{} ({})",
                    yes_no(r <= p.budget_kib),
                    fmt_kib(p.budget_kib)
                )),
                yes_no(p.alive),
                yes_no(p.answers_after),
            );
        }
    }

    // The targets.
    if has_us {
        let _ = writeln!(o, "\n### Targets (issues 10 and 19)\n");
        let best_peer = |t: &str| {
            peers
                .iter()
                .filter_map(|p| get(t, p).map(|x| (p.as_str(), x)))
                .max_by(|a, b| a.1.rps.total_cmp(&b.1.rps))
        };
        for t in &m.tests {
            let Some(us) = get(t, US) else { continue };
            let mut line = format!("- {}:", test_label(t));
            if let Some((name, b)) = best_peer(t) {
                let r = us.rps / b.rps;
                let _ = write!(
                    line,
                    " {:.2}× best peer ({name}), target ≥ 1.10: {};",
                    r,
                    yes_no(r >= 1.1)
                );
            }
            if !t.starts_with("static") {
                for p in ["axum", "actix-web"] {
                    if let Some(b) = get(t, p) {
                        let r = us.rps / b.rps;
                        let _ = write!(line, " {r:.2}× {p}, target ≥ 1.30: {};", yes_no(r >= 1.3));
                    }
                }
            }
            if t.ends_with("-1000") {
                let best_p99 = peers
                    .iter()
                    .filter_map(|p| get(t, p).map(|x| x.p99_us))
                    .fold(f64::INFINITY, f64::min);
                let _ = write!(
                    line,
                    " p99 {} vs best peer {}: {};",
                    fmt_us(us.p99_us),
                    fmt_us(best_p99),
                    yes_no(us.p99_us <= best_p99)
                );
            }
            if t.starts_with("pipelined") {
                if let Some((name, b)) = best_peer(t) {
                    let r = us.rps / b.rps;
                    let _ = write!(
                        line,
                        " pipelined {r:.2}× best peer ({name}), target ≥ 1.20 (issue 19): {};",
                        yes_no(r >= 1.2)
                    );
                }
            }
            if ["plaintext", "json", "static"]
                .iter()
                .any(|k| t.starts_with(k))
            {
                if let (Some(cpu), Some((name, best))) = (us.cpu_us_per_req, lowest_cpu_peer(t)) {
                    let r = cpu / best;
                    let _ = write!(
                        line,
                        " server CPU/req {r:.2}× the lowest peer's ({name}), target ≤ 0.80 (issue 19): {};",
                        yes_no(r <= 0.8)
                    );
                }
            }
            let _ = writeln!(o, "{}", line.trim_end_matches(';'));
            if let Some(c) = ceilings(t, &us, &peers, get) {
                let _ = writeln!(o, "  {c}");
            }
        }
        if let Some(mem) = res.memory.iter().find(|x| x.server == US && x.held > 0) {
            let per = mem.rss_with_kib.saturating_sub(mem.rss_before_kib) as f64 / mem.held as f64;
            let _ = writeln!(
                o,
                "- RSS per idle keep-alive connection: {per:.2} KiB, target ≤ 1 KiB: {}",
                yes_no(per <= 1.0)
            );
            if let Some(budget) = mem.budget_kib {
                let _ = writeln!(
                    o,
                    "- RSS holding {} idle connections: {}, target ≤ Normal slot budget + 8 MiB ({}): {}",
                    mem.held,
                    fmt_kib(mem.rss_with_kib),
                    fmt_kib(budget),
                    yes_no(mem.rss_with_kib <= budget)
                );
                let load = m.tests.iter().find(|t| t.ends_with("-1000"));
                if let Some((t, peak)) =
                    load.and_then(|t| get(t, US).and_then(|x| x.peak_rss_kib).map(|p| (t, p)))
                {
                    let _ = writeln!(
                        o,
                        "- peak RSS under {}: {}, target ≤ {}: {}",
                        test_label(t),
                        fmt_kib(peak),
                        fmt_kib(budget),
                        yes_no(peak <= budget)
                    );
                }
            }
        }
    }
    o
}

fn server_colour(i: usize, name: &str) -> RGBColor {
    if name == US {
        return RGBColor(214, 72, 38);
    }
    const PEERS: [RGBColor; 5] = [
        RGBColor(55, 110, 180),
        RGBColor(90, 160, 90),
        RGBColor(150, 100, 180),
        RGBColor(120, 120, 120),
        RGBColor(200, 160, 40),
    ];
    PEERS[i % PEERS.len()]
}

fn chart(
    res: &Results,
    sums: &BTreeMap<(String, String), Summary>,
    path: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu font did not load")?;
    register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
        .map_err(|_| "the embedded DejaVu font did not load")?;
    let m = &res.meta;
    let ns = m.servers.len();
    let nt = m.tests.len();
    let colours: Vec<RGBColor> = {
        let mut peer_i = 0;
        m.servers
            .iter()
            .map(|s| {
                let c = server_colour(peer_i, s);
                if s != US {
                    peer_i += 1;
                }
                c
            })
            .collect()
    };
    let root = BitMapBackend::new(path, (1280, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(600);

    // Throughput: one group of bars per test, one bar per server, a gap slot between groups.
    let slots = (nt * (ns + 1)) as i32;
    let max_rps = sums
        .values()
        .map(|s| s.rps)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let mut c = ChartBuilder::on(&top)
        .caption(
            format!(
                "Requests per second, median of {} round(s) × {} (wrk -t{}, {} cores, 127.0.0.1)",
                m.rounds, m.duration, m.wrk_threads, m.cores
            ),
            ("sans-serif", 22).into_font().style(FontStyle::Bold),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        // A segmented range a..b has segments a..=b: stop before the last group's gap slot.
        .build_cartesian_2d((0..slots - 2).into_segmented(), 0.0..max_rps * 1.3)?;
    let centre = |g: usize| (g * (ns + 1) + ns / 2) as i32;
    c.configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(slots as usize)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(k) => (0..nt)
                .find(|g| centre(*g) == *k)
                .map(|g| test_label(&m.tests[g]))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| fmt_rps(*v))
        .y_desc("req/s")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (si, server) in m.servers.iter().enumerate() {
        let colour = colours[si];
        let bars: Vec<(i32, f64)> = m
            .tests
            .iter()
            .enumerate()
            .filter_map(|(g, t)| {
                sums.get(&(t.clone(), server.clone()))
                    .map(|s| ((g * (ns + 1) + si) as i32, s.rps))
            })
            .collect();
        c.draw_series(bars.iter().map(|&(k, v)| {
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(k), 0.0),
                    (SegmentValue::Exact(k + 1), v),
                ],
                colour.filled(),
            );
            r.set_margin(0, 0, 2, 2);
            r
        }))?
        .label(server.as_str())
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        c.draw_series(bars.iter().map(|&(k, v)| {
            Text::new(
                fmt_rps(v),
                (SegmentValue::CenterOf(k), v),
                ("sans-serif", 12)
                    .into_font()
                    .into_text_style(&top)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )
        }))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .draw()?;

    // Memory per idle keep-alive connection.
    let per: Vec<(usize, f64)> = m
        .servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            res.memory
                .iter()
                .find(|x| &x.server == s && x.held > 0)
                .map(|x| {
                    (
                        i,
                        x.rss_with_kib.saturating_sub(x.rss_before_kib) as f64 / x.held as f64,
                    )
                })
        })
        .collect();
    let max_per = per.iter().map(|p| p.1).fold(1.0, f64::max);
    let held = res.memory.iter().map(|x| x.target).max().unwrap_or(0);
    let mut c = ChartBuilder::on(&bottom)
        .caption(
            format!("RSS per idle keep-alive connection, KiB ({held} held)"),
            ("sans-serif", 20).into_font().style(FontStyle::Bold),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d((0..ns as i32 - 1).into_segmented(), 0.0..max_per * 1.2)?;
    c.configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .x_labels(ns)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(k) => m.servers.get(*k as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("KiB")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    c.draw_series(per.iter().map(|&(i, v)| {
        let mut r = Rectangle::new(
            [
                (SegmentValue::Exact(i as i32), 0.0),
                (SegmentValue::Exact(i as i32 + 1), v),
            ],
            colours[i].filled(),
        );
        r.set_margin(0, 0, 40, 40);
        r
    }))?;
    c.draw_series(per.iter().map(|&(i, v)| {
        Text::new(
            format!("{v:.1}"),
            (SegmentValue::CenterOf(i as i32), v),
            ("sans-serif", 14)
                .into_font()
                .into_text_style(&bottom)
                .pos(Pos::new(HPos::Center, VPos::Bottom)),
        )
    }))?;
    if per.is_empty() {
        bottom.draw(&Text::new(
            "no memory measurement in this run",
            (500, 150),
            ("sans-serif", 18).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, md_path, png_path] = args.as_slice() else {
        eprintln!("usage: report RESULTS.json OUT.md OUT.png");
        return ExitCode::from(2);
    };
    let res: Results = match std::fs::read_to_string(input)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("report: cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sums = summarise(&res.runs);
    let md = markdown(&res, &sums);
    print!("{md}");
    if let Err(e) = std::fs::write(md_path, &md) {
        eprintln!("report: cannot write {md_path}: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = chart(&res, &sums, png_path) {
        eprintln!("report: cannot draw {png_path}: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
