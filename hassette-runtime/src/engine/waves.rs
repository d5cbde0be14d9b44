//! Dependency order: which services start together, and the cycle error. Computed once,
//! at `build()`, without recursion (a chain of any length cannot overflow the stack).

use std::sync::Arc;

use crate::BuildError;

/// Groups unit ids by dependency depth (wave 0 depends on nothing), or names a cycle.
pub(crate) fn waves<'a>(
    deps: &[Box<[usize]>],
    name: impl Fn(usize) -> &'a Arc<str>,
) -> Result<Vec<Vec<usize>>, BuildError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done(usize),
    }
    let mut marks = vec![Mark::New; deps.len()];
    // Iterative depth-first search: 100 000 services must not overflow the stack. One
    // stack for every root (empty again after each): not an allocation per service.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..deps.len() {
        stack.push((root, 0));
        while let Some(&mut (id, ref mut next)) = stack.last_mut() {
            if *next == 0 {
                if let Mark::Done(_) = marks[id] {
                    stack.pop();
                    continue;
                }
                marks[id] = Mark::Visiting;
            }
            if let Some(&dep) = deps[id].get(*next) {
                *next += 1;
                match marks[dep] {
                    Mark::Visiting => {
                        let start = stack.iter().position(|&(i, _)| i == dep).unwrap_or(0);
                        let mut cycle: Vec<&str> =
                            stack[start..].iter().map(|&(i, _)| &**name(i)).collect();
                        cycle.push(name(dep));
                        return Err(BuildError::DependencyCycle {
                            cycle: cycle.join(" -> "),
                        });
                    }
                    Mark::New => stack.push((dep, 0)),
                    Mark::Done(_) => {}
                }
            } else {
                let depth = deps[id]
                    .iter()
                    .map(|&d| {
                        if let Mark::Done(depth) = marks[d] {
                            depth + 1
                        } else {
                            0
                        }
                    })
                    .max()
                    .unwrap_or(0);
                marks[id] = Mark::Done(depth);
                stack.pop();
            }
        }
    }
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (id, mark) in marks.into_iter().enumerate() {
        if let Mark::Done(depth) = mark {
            if waves.len() <= depth {
                waves.resize_with(depth + 1, Vec::new);
            }
            waves[depth].push(id);
        }
    }
    Ok(waves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<Arc<str>> {
        (0..n).map(|i| Arc::from(format!("s{i}"))).collect()
    }

    #[test]
    fn depth_decides_the_wave() {
        // s0 <- s1 <- s2, s3 alone, s4 needs s0 and s2
        let deps: Vec<Box<[usize]>> = vec![
            Box::new([]),
            Box::new([0]),
            Box::new([1]),
            Box::new([]),
            Box::new([0, 2]),
        ];
        let n = names(5);
        assert_eq!(
            waves(&deps, |i| &n[i]).unwrap(),
            vec![vec![0, 3], vec![1], vec![2], vec![4]]
        );
    }

    #[test]
    fn a_cycle_is_named_from_where_it_closes() {
        let deps: Vec<Box<[usize]>> = vec![Box::new([1]), Box::new([2]), Box::new([0])];
        let n = names(3);
        assert_eq!(
            waves(&deps, |i| &n[i]).unwrap_err(),
            BuildError::DependencyCycle {
                cycle: "s0 -> s1 -> s2 -> s0".into()
            }
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let deps: Vec<Box<[usize]>> = (0..100_000)
            .map(|i| {
                if i == 0 {
                    Box::new([]) as Box<[usize]>
                } else {
                    Box::new([i - 1])
                }
            })
            .collect();
        let n = names(100_000);
        assert_eq!(waves(&deps, |i| &n[i]).unwrap().len(), 100_000);
    }
}
