//! Decisions may not depend on themselves: the call graph must be acyclic, which keeps
//! every evaluation finite.

use covenant_ir::{DecisionId, Program};
use covenant_source::{Diagnostic, Span};

/// `calls[d]` lists the decisions that decision `d` refers to, with the span of each reference.
pub(crate) fn check_cycles(program: &Program, calls: &[Vec<(DecisionId, Span)>], out: &mut Vec<Diagnostic>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; calls.len()];
    for root in 0..calls.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (decision, next edge index).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::Active;
        while let Some(&mut (node, ref mut edge)) = stack.last_mut() {
            if let Some(&(next, span)) = calls[node].get(*edge) {
                *edge += 1;
                let next = next.index();
                match marks[next] {
                    Mark::New => {
                        marks[next] = Mark::Active;
                        stack.push((next, 0));
                    }
                    Mark::Active => {
                        let start = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        let names: Vec<&str> =
                            stack[start..].iter().map(|(n, _)| program.decisions[*n].name.as_str()).collect();
                        let chain = format!("{} → {}", names.join(" → "), program.decisions[next].name);
                        out.push(
                            Diagnostic::error(
                                "E0205",
                                format!("decision `{}` depends on itself", program.decisions[next].name),
                                span,
                                "this reference closes the cycle",
                            )
                            .with_label(program.decisions[next].name_span, "defined here")
                            .with_note(format!("the cycle is {chain}"))
                            .with_help("rules cannot be recursive; compute the value from inputs in one direction"),
                        );
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
}
