//! The constant paths Ruby code names (`Rack::Auth::Basic::Request`, `::CSV`) and the
//! constants it defines (`class Shop`, `module Helpers`, `PRODUCTS = …`). Naming a constant
//! runs the `autoload` a library registered for it, which loads a file no `require` names: the
//! sweep resolves each named path in the original image.

/// `K:PATH` for each constant path named (without a leading `::`), `D:NAME` for each constant
/// defined; string literals, comments, `=begin` blocks and heredocs skipped.
pub fn constants(src: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |fact: String| {
        if !out.contains(&fact) {
            out.push(fact);
        }
    };
    let mut heredoc: Option<String> = None;
    let mut block_comment = false;
    for line in src.lines() {
        if let Some(end) = &heredoc {
            if line.trim() == end {
                heredoc = None;
            }
            continue;
        }
        if block_comment || line.starts_with("=begin") {
            block_comment = !line.starts_with("=end");
            continue;
        }
        let mut code = without_strings(line);
        if let Some((opener, id)) = heredoc_end(&code) {
            code.replace_range(opener, "");
            heredoc = Some(id);
        }
        let code = code.trim_start();
        for keyword in ["class ", "module "] {
            if let Some(rest) = code.strip_prefix(keyword) {
                // `class Shop < Sinatra::Base`, `class Admin::Report`: the last segment is defined.
                let path = constant_path(rest.trim_start().trim_start_matches("::"));
                if let Some(name) = path.rsplit("::").next().filter(|n| !n.is_empty()) {
                    add(format!("D:{name}"));
                }
            }
        }
        if let Some((lhs, rhs)) = code.split_once('=') {
            let lhs = lhs.trim_end();
            // `=` alone assigns (`==`, `=~` and `=>` do not).
            if !lhs.is_empty() && !rhs.starts_with(['=', '~', '>']) && constant_path(lhs) == lhs {
                add(format!("D:{}", lhs.rsplit("::").next().unwrap_or(lhs)));
            }
        }
        for path in references(code) {
            add(format!("K:{path}"));
        }
    }
    out
}

/// The line with its string literals blanked and its comment cut.
fn without_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                }
            }
            None if c == '#' => break,
            None => {
                if c == '"' || c == '\'' || c == '`' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The opener of a heredoc the line opens (`<<~SQL`, `<<-EOS`, `<<'EOS'`) and its
/// terminator, if any.
fn heredoc_end(code: &str) -> Option<(std::ops::Range<usize>, String)> {
    let at = code.find("<<")?;
    let rest = code[at + 2..].trim_start_matches(['~', '-']).trim_start_matches(['\'', '"']);
    let id: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
    let end = code.len() - rest.len() + id.len();
    (!id.is_empty()).then_some((at..end, id))
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The constant path at the start of `s`: capitalized segments joined by `::`.
fn constant_path(s: &str) -> &str {
    let mut end = 0;
    let mut rest = s;
    loop {
        if !rest.starts_with(|c: char| c.is_ascii_uppercase()) {
            break;
        }
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        end = s.len() - rest.len() + len;
        match rest[len..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    &s[..end]
}

/// Each constant path a line of code names, from its first segment.
fn references(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let Some(c) = rest.chars().next() else { break };
        let head = &code[..i];
        let before = head.chars().next_back();
        // A symbol (`:Foo`), a method (`.Foo`), an instance or global variable, or the middle
        // of a word or of a path already taken; `::Foo` alone names a constant from the top.
        let top = head.strip_suffix("::").map(|h| !h.chars().next_back().is_some_and(is_ident));
        let after_word = before.is_some_and(|b| is_ident(b) || matches!(b, '@' | '$' | '.' | ':'));
        let starts = c.is_ascii_uppercase() && (top == Some(true) || (top.is_none() && !after_word));
        if starts {
            let path = constant_path(rest);
            out.push(path);
            i += path.len();
        } else {
            i += c.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::constants;

    #[test]
    fn named_and_defined_constants() {
        let src = "require 'sinatra/base'\n\
                   class Shop < Sinatra::Base\n  PRODUCTS = [1].freeze\n\
                   \x20 get '/admin' do\n    auth = Rack::Auth::Basic::Request.new(request.env)\n\
                   \x20   halt 401, \"Not Allowed::Here\" unless auth.provided? # Comment::Path\n\
                   \x20   ::CSV.generate { |c| c << :Symbol }\n    x = @Ivar + y.Meth + PRODUCTS.size\n\
                   \x20   DB.query(<<~SQL) if VERSION == 2\n      SELECT Name FROM Items\n    SQL\n  end\nend\n\
                   =begin\nOld::Code\n=end\nmodule Admin::Tools\nend\n";
        assert_eq!(
            constants(src),
            [
                "D:Shop",
                "K:Shop",
                "K:Sinatra::Base",
                "D:PRODUCTS",
                "K:PRODUCTS",
                "K:Rack::Auth::Basic::Request",
                "K:CSV",
                "K:DB",
                "K:VERSION",
                "D:Tools",
                "K:Admin::Tools"
            ]
        );
    }
}
