//! Small, deterministic optimisers: Newton's method with a backtracking line search
//! for a binary logistic regression (search clicks) and a conditional logit (which
//! channel among the candidates was joined). Fixed iteration budget, fixed data order,
//! no randomness: the same examples always give the same bits.

// Dense linear algebra on a handful of dimensions reads best with indices.
#![allow(clippy::needless_range_loop)]

/// One binary example: features and whether it was clicked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Binary {
    pub x: Vec<f64>,
    pub y: bool,
}

/// One choice: candidates' features and which one was chosen.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Choice {
    pub candidates: Vec<Vec<f64>>,
    pub chosen: usize,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

/// Solves `a · x = b` (small, dense) by Gaussian elimination with partial pivoting.
/// `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// Newton's method on a concave objective. `eval(w)` returns (objective, gradient,
/// negative Hessian). Stops after `iterations` or when a step no longer helps.
fn newton(
    mut w: Vec<f64>,
    iterations: usize,
    eval: impl Fn(&[f64]) -> (f64, Vec<f64>, Vec<Vec<f64>>),
) -> Vec<f64> {
    for _ in 0..iterations {
        let (value, grad, neg_hessian) = eval(&w);
        let Some(step) = solve(neg_hessian, grad) else { break };
        let mut scale = 1.0;
        let mut improved = false;
        for _ in 0..20 {
            let candidate: Vec<f64> = w.iter().zip(&step).map(|(a, s)| a + scale * s).collect();
            if eval(&candidate).0 > value {
                w = candidate;
                improved = true;
                break;
            }
            scale *= 0.5;
        }
        if !improved {
            break;
        }
    }
    w
}

/// Fits `P(y) = σ(bias + w·x)`; returns `[bias, w…]`. `l2` per example, bias not
/// penalised.
pub(crate) fn logistic_regression(data: &[Binary], dims: usize, l2: f64, iterations: usize) -> Vec<f64> {
    let lambda = l2 * data.len().max(1) as f64;
    let eval = |w: &[f64]| {
        let n = dims + 1;
        let mut value = 0.0;
        let mut grad = vec![0.0; n];
        let mut h = vec![vec![0.0; n]; n];
        for e in data {
            let z = w[0] + dot(&w[1..], &e.x);
            let p = sigmoid(z);
            value += if e.y { -softplus(-z) } else { -softplus(z) };
            let r = f64::from(u8::from(e.y)) - p;
            let q = p * (1.0 - p);
            let xi = |i: usize| if i == 0 { 1.0 } else { e.x[i - 1] };
            for i in 0..n {
                grad[i] += r * xi(i);
                for j in 0..n {
                    h[i][j] += q * xi(i) * xi(j);
                }
            }
        }
        for i in 1..n {
            value -= 0.5 * lambda * w[i] * w[i];
            grad[i] -= lambda * w[i];
            h[i][i] += lambda;
        }
        h[0][0] += 1e-9;
        (value, grad, h)
    };
    newton(vec![0.0; dims + 1], iterations, eval)
}

/// Fits a conditional logit `P(chosen) = softmax(w·x)` over each choice's candidates,
/// starting from `start` and shrunk towards it (L2 on `w − start`): with little
/// evidence the fit stays near the prior.
pub(crate) fn conditional_logit(data: &[Choice], start: &[f64], l2: f64, iterations: usize) -> Vec<f64> {
    let d = start.len();
    let lambda = l2 * data.len().max(1) as f64;
    let eval = |w: &[f64]| {
        let mut value = 0.0;
        let mut grad = vec![0.0; d];
        let mut h = vec![vec![0.0; d]; d];
        for c in data {
            let scores: Vec<f64> = c.candidates.iter().map(|x| dot(w, x)).collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = exps.iter().sum();
            value += scores[c.chosen] - max - total.ln();
            let mut mean = vec![0.0; d];
            for (x, e) in c.candidates.iter().zip(&exps) {
                for i in 0..d {
                    mean[i] += e / total * x[i];
                }
            }
            for i in 0..d {
                grad[i] += c.candidates[c.chosen][i] - mean[i];
            }
            for (x, e) in c.candidates.iter().zip(&exps) {
                let p = e / total;
                for i in 0..d {
                    for j in 0..d {
                        h[i][j] += p * (x[i] - mean[i]) * (x[j] - mean[j]);
                    }
                }
            }
        }
        for i in 0..d {
            let off = w[i] - start[i];
            value -= 0.5 * lambda * off * off;
            grad[i] -= lambda * off;
            h[i][i] += lambda + 1e-9;
        }
        (value, grad, h)
    };
    newton(start.to_vec(), iterations, eval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_regression_recovers_the_sign_of_a_planted_effect() {
        // y is mostly 1 when x0 is large, x1 is noise.
        let mut data = Vec::new();
        for i in 0..200 {
            let x0 = (i % 10) as f64 / 10.0;
            let x1 = ((i * 7) % 13) as f64 / 13.0;
            data.push(Binary { x: vec![x0, x1], y: (i * 31 % 100) as f64 / 100.0 < x0 });
        }
        let w = logistic_regression(&data, 2, 1e-3, 25);
        assert!(w[1] > 2.0, "{w:?}");
        assert!(w[2].abs() < w[1] / 2.0, "{w:?}");
        assert_eq!(w, logistic_regression(&data, 2, 1e-3, 25), "deterministic");
    }

    #[test]
    fn conditional_logit_prefers_the_feature_of_the_chosen() {
        let data: Vec<Choice> = (0..50)
            .map(|i| Choice {
                candidates: vec![vec![0.9, (i % 3) as f64 / 3.0], vec![0.1, 0.5], vec![0.2, 0.9]],
                chosen: if i % 5 == 0 { 2 } else { 0 },
            })
            .collect();
        let w = conditional_logit(&data, &[0.0, 0.0], 1e-3, 25);
        assert!(w[0] > 1.0, "{w:?}");
    }

    #[test]
    fn singular_systems_are_reported() {
        assert!(solve(vec![vec![0.0, 0.0], vec![0.0, 0.0]], vec![1.0, 1.0]).is_none());
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
    }
}
