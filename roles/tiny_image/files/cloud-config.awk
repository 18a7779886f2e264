# Flatten the YAML that NoCloud seeds use (meta-data, #cloud-config user-data,
# network-config) into one "path<TAB>value" line per scalar, for the tiny guest's
# /init to query with plain text tools. Written for busybox awk; no other dependency.
#
#   hostname: tiny                        hostname            tiny
#   runcmd:                          =>   runcmd.0            echo hi
#   - echo hi                             runcmd.1.0          ls
#   - [ls, -l]                            runcmd.1.1          -l
#
# A path joins mapping keys and 0-based sequence indexes with dots. In values, "\" is
# written "\\" and a newline "\n", so that every value stays on one line.
#
# Understood: block mappings and sequences (a sequence may sit at its key's column),
# "- key: value" items, flow collections [..] and {..} (also spread over lines, so a
# JSON document works too), plain, 'single' and "double" quoted scalars, | and >
# block scalars with - and + chomping, comments and document markers. Not understood:
# anchors, aliases, tags, complex keys, plain scalars over several lines. Lines that
# fit nothing are skipped rather than fatal: a seed must never stop the boot.

BEGIN { n = 0; pend = ""; blk = 0; flow = 0 }

{ sub(/\r$/, "") }

# Inside a block scalar: blank lines, and lines indented deeper than its key.
blk {
    if ($0 ~ /^[ \t]*$/) { bl[++bn] = ""; next }
    match($0, /^ */)
    if (bind < 0 && RLENGTH > bcol) bind = RLENGTH
    if (bind >= 0 && RLENGTH >= bind) { bl[++bn] = substr($0, bind + 1); next }
    end_block()
}

# Inside a flow collection that did not close on its first line.
flow {
    fbuf = fbuf " " strip_comment($0)
    if (closed(fbuf)) { flow = 0; parse_flow(fpath, fbuf) }
    next
}

{
    if ($0 ~ /^(---|\.\.\.)([ \t]|$)/) next
    line = strip_comment($0)
    if (line ~ /^[ \t]*$/) next
    match(line, /^ */)
    t = substr(line, RLENGTH + 1)
    sub(/[ \t]+$/, "", t)
    node(RLENGTH, t)
}

END {
    if (blk) end_block()
    if (flow) parse_flow(fpath, fbuf)
}

# One content line t starting at column c.
function node(c, t,    dash, p, rest, rc) {
    dash = (t ~ /^-([ \t]|$)/)
    if (pend != "" && (c > pcol || (c == pcol && dash))) {
        # The value of the "key:" on the line before.
        p = pend; pend = ""
        if (!dash && t ~ /^[[{]/) { start_flow(p, t); return }
        if (!dash && !key_end(t)) { emit(p, scalar(t)); return }
        push(c, p, dash)
    } else {
        pend = ""
        if (n == 0) {
            if (t ~ /^[[{]/) { start_flow("", t); return }
            push(c, "", dash)
        }
        # Close deeper containers, and a sequence that sits at its parent key's column.
        while (n > 1 && (col[n] > c || (col[n] == c && seq[n] && !dash))) n--
        if (col[n] != c || seq[n] != dash) return
    }
    if (dash) {
        p = join(path[n], ++idx[n])
        rest = t
        sub(/^-[ \t]*/, "", rest)
        rc = c + length(t) - length(rest)
        if (rest == "") { pend = p; pcol = c; return }
        if (rest ~ /^-([ \t]|$)/) { push(rc, p, 1); node(rc, rest); return }
        if (key_end(rest)) { push(rc, p, 0); node(rc, rest); return }
        value(p, rest, c)
        return
    }
    rc = key_end(t)
    if (!rc) return
    value(join(path[n], scalar(trim(substr(t, 1, rc - 1)))), trim(substr(t, rc + 1)), c)
}

function push(c, p, is_seq) {
    n++; col[n] = c; path[n] = p; seq[n] = is_seq; idx[n] = -1
}

# The value v of path p, written at column c.
function value(p, v, c) {
    if (v == "") { pend = p; pcol = c; return }
    if (v ~ /^[|>][-+0-9]*$/) {
        blk = 1; bpath = p; bcol = c; bind = -1; bn = 0
        bfold = (v ~ /^>/)
        bchomp = (v ~ /-/) ? "strip" : (v ~ /\+/) ? "keep" : "clip"
        return
    }
    if (v ~ /^[[{]/) { start_flow(p, v); return }
    emit(p, scalar(v))
}

function end_block(    last, out, i, gap) {
    blk = 0
    for (last = bn; last > 0 && bl[last] == ""; last--) ;
    out = bl[1]
    for (i = 2; i <= last; i++) {
        if (!bfold) { out = out "\n" bl[i]; continue }
        # Folding: a line break between two plain lines becomes a space; a blank line
        # stands for one line break; more-indented lines keep their breaks.
        if (bl[i] == "") { out = out "\n"; gap = 1; continue }
        if (gap) out = out bl[i]
        else if (bl[i] ~ /^[ \t]/ || bl[i - 1] ~ /^[ \t]/) out = out "\n" bl[i]
        else out = out " " bl[i]
        gap = 0
    }
    if (last > 0 && bchomp != "strip") out = out "\n"
    if (bchomp == "keep") for (i = last + 1; i <= bn; i++) out = out "\n"
    emit(bpath, out)
}

function start_flow(p, v) {
    if (closed(v)) parse_flow(p, v)
    else { flow = 1; fpath = p; fbuf = v }
}

# Emit the items of the flow collection that s starts with.
function parse_flow(p, s,    m, open, depth, i, ch, start, item, k, j) {
    s = trim(s)
    m = mask(s)
    open = substr(s, 1, 1)
    depth = 0; start = 2; k = 0
    for (i = 1; i <= length(s); i++) {
        ch = substr(m, i, 1)
        if (ch == "[" || ch == "{") { depth++; continue }
        if (depth == 1 && (ch == "," || ch == "]" || ch == "}")) {
            item = trim(substr(s, start, i - start))
            start = i + 1
            if (item != "") {
                if (open == "[") flow_value(join(p, k++), item)
                else {
                    j = index(mask(item), ":")
                    if (j) flow_value(join(p, scalar(trim(substr(item, 1, j - 1)))), trim(substr(item, j + 1)))
                    else emit(join(p, scalar(item)), "")
                }
            }
        }
        if (ch == "]" || ch == "}") { if (--depth == 0) return }
    }
}

function flow_value(p, v) {
    if (v ~ /^[[{]/) parse_flow(p, v)
    else emit(p, scalar(v))
}

# Whether the brackets that s opens are all closed.
function closed(s,    m, i, ch, depth) {
    m = mask(s)
    for (i = 1; i <= length(m); i++) {
        ch = substr(m, i, 1)
        if (ch == "[" || ch == "{") depth++
        else if (ch == "]" || ch == "}") depth--
    }
    return depth <= 0
}

# Position of the ":" that ends a mapping key in t, or 0 if t is not "key: ...".
function key_end(t,    m) {
    if (t ~ /^[[{]/) return 0
    m = mask(t)
    if (match(m, /:([ \t]|$)/)) return RSTART
    return 0
}

function strip_comment(s,    m) {
    m = mask(s)
    if (match(m, /(^|[ \t])#/)) return substr(s, 1, RSTART - 1)
    return s
}

# s with every quoted part (quotes included) replaced by "_", so that searches for
# ":", "#", "," and brackets find only the ones that structure the line. A quote
# opens a quoted part only where a scalar can begin, so "it's" stays plain.
function mask(s,    out, i, ch, q) {
    out = ""; q = ""
    for (i = 1; i <= length(s); i++) {
        ch = substr(s, i, 1)
        if (q == "") {
            if ((ch == "\"" || ch == "'") && (i == 1 || index(" \t[{,:", substr(s, i - 1, 1)))) { q = ch; ch = "_" }
        } else if (q == "\"" && ch == "\\") {
            out = out "_"; i++; ch = "_"
        } else if (q == "'" && ch == "'" && substr(s, i + 1, 1) == "'") {
            out = out "_"; i++; ch = "_"
        } else {
            if (ch == q) q = ""
            ch = "_"
        }
        out = out ch
    }
    return out
}

# The string a scalar stands for: quotes removed and escapes resolved.
function scalar(v,    q, out, i, ch) {
    q = substr(v, 1, 1)
    if (q != "\"" && q != "'") return v
    out = ""
    for (i = 2; i <= length(v); i++) {
        ch = substr(v, i, 1)
        if (ch == q) {
            if (q == "'" && substr(v, i + 1, 1) == "'") { out = out "'"; i++; continue }
            break
        }
        if (q == "\"" && ch == "\\") {
            ch = substr(v, ++i, 1)
            if (ch == "n") ch = "\n"
            else if (ch == "t") ch = "\t"
            else if (ch == "r") ch = "\r"
        }
        out = out ch
    }
    return out
}

function emit(p, v,    out) {
    out = ""
    while (match(v, /[\\\n]/)) {
        out = out substr(v, 1, RSTART - 1) (substr(v, RSTART, 1) == "\n" ? "\\n" : "\\\\")
        v = substr(v, RSTART + 1)
    }
    print p "\t" out v
}

function join(a, b) { return a == "" ? b : a "." b }

function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
