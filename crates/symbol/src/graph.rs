//! The graph: nodes (variables and op applications), entries (one output of a node) and
//! symbols (a list of entries), with MXNet's naming and listing rules.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use mxrs_ndarray_core::op::{OpDef, Operator};
use mxrs_ndarray_core::{Attrs, Error, Result, registry};

/// One node: a variable (`op` is `None`) or an op applied to entries.
pub struct Node {
    /// The registered op; `None` for a variable.
    pub op: Option<Arc<OpDef>>,
    /// The op instance parsed from `attrs`.
    pub instance: Option<Arc<dyn Operator>>,
    /// The node's name (`fc1`, `data`).
    pub name: String,
    /// Every attribute: op parameters and hidden `__key__` attributes, as strings.
    pub attrs: Attrs,
    /// The inputs, in the op's input order (aux states last).
    pub inputs: Vec<Entry>,
    /// True for a variable made automatically for an op input the caller did not give.
    pub auto: bool,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("op", &self.op_name())
            .field("name", &self.name)
            .field("inputs", &self.inputs.len())
            .finish()
    }
}

impl Node {
    /// A variable node.
    pub fn variable(name: impl Into<String>, attrs: Attrs) -> Arc<Node> {
        Arc::new(Node { op: None, instance: None, name: name.into(), attrs, inputs: Vec::new(), auto: false })
    }
    /// True for a variable.
    pub fn is_variable(&self) -> bool {
        self.op.is_none()
    }
    /// The op's name, or `"null"` for a variable (as in MXNet's JSON).
    pub fn op_name(&self) -> &str {
        self.op.as_ref().map_or("null", |d| d.name)
    }
    /// The op instance (panics for a variable; callers check `is_variable` first).
    pub fn operator(&self) -> &Arc<dyn Operator> {
        self.instance.as_ref().expect("op node has an instance")
    }
    /// Number of outputs (hidden ones included).
    pub fn num_outputs(&self) -> usize {
        self.instance.as_ref().map_or(1, |o| o.num_outputs())
    }
    /// Number of visible outputs.
    pub fn num_visible_outputs(&self) -> usize {
        self.instance.as_ref().map_or(1, |o| o.num_visible_outputs())
    }
    /// Number of aux-state inputs (the last ones).
    pub fn num_aux(&self) -> usize {
        self.instance.as_ref().map_or(0, |o| o.num_aux())
    }
    /// Input names of this op node.
    pub fn input_names(&self) -> Vec<String> {
        let Some(inst) = &self.instance else { return Vec::new() };
        input_names(self.op.as_ref().expect("op"), &**inst, self.inputs.len())
    }
    /// The name of output `i` as `list_outputs` shows it.
    pub fn output_name(&self, i: usize) -> String {
        match &self.instance {
            None => self.name.clone(),
            Some(inst) => {
                let names = inst.output_names();
                let suffix = names.get(i).cloned().unwrap_or_else(|| format!("output{i}"));
                format!("{}_{suffix}", self.name)
            }
        }
    }
}

/// The input names of an op instance; variadic ops (`"*data"`) get `arg0`, `arg1`...
pub fn input_names(def: &OpDef, inst: &dyn Operator, n_given: usize) -> Vec<String> {
    if let Some(v) = inst.input_names() {
        return v;
    }
    if def.inputs.len() == 1 && def.inputs[0].starts_with('*') {
        return (0..n_given).map(|i| format!("arg{i}")).collect();
    }
    def.inputs.iter().map(|s| s.to_string()).collect()
}

/// One output of a node.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The node.
    pub node: Arc<Node>,
    /// Which of its outputs.
    pub index: usize,
}

impl Entry {
    /// Identity key of the node.
    pub fn key(&self) -> usize {
        Arc::as_ptr(&self.node) as usize
    }
}

/// A symbol: the outputs of a graph.
#[derive(Clone, Debug, Default)]
pub struct Symbol {
    /// The outputs, in order.
    pub outputs: Vec<Entry>,
}

/// Attributes an op instance receives: every key but the hidden `__key__` ones.
pub fn op_params(attrs: &Attrs) -> Attrs {
    Attrs(
        attrs
            .0
            .iter()
            .filter(|(k, _)| !(k.starts_with("__") && k.ends_with("__")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Parse an op's attributes into an instance, with the node name in errors.
pub fn make_instance(def: &OpDef, name: &str, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
    (def.create)(&op_params(attrs)).map(Arc::from).map_err(|e| match e {
        Error::Shape { op, msg } => Error::Shape { op: format!("{op} ({name})"), msg },
        Error::Param { op, msg } => Error::Param { op: format!("{op} ({name})"), msg },
        other => other,
    })
}

/// The initializer an automatically made aux variable carries (BatchNorm's moving stats).
fn aux_init(input: &str) -> Option<&'static str> {
    match input {
        "moving_mean" | "running_mean" => Some("[\"zero\", {}]"),
        "moving_var" | "running_var" => Some("[\"one\", {}]"),
        _ => None,
    }
}

impl Symbol {
    /// A variable.
    pub fn variable(name: &str, attrs: Attrs) -> Symbol {
        Symbol { outputs: vec![Entry { node: Node::variable(name, attrs), index: 0 }] }
    }

    /// Apply the registered op `op` (an alias works; the node stores the canonical name) to
    /// positional `args` and named `kwargs`. Inputs not given become variables named
    /// `<name>_<input>` carrying the op's attributes.
    pub fn create(op: &str, name: &str, attrs: Attrs, args: &[Symbol], kwargs: &[(String, Symbol)]) -> Result<Symbol> {
        let def = registry().get(op)?.clone();
        let inst = make_instance(&def, name, &attrs)?;
        let variadic = def.inputs.len() == 1 && def.inputs[0].starts_with('*') && inst.input_names().is_none();
        let n_inputs = if variadic { args.len() + kwargs.len() } else { 0 };
        let names = input_names(&def, &*inst, n_inputs);
        let mut slots: Vec<Option<Entry>> = vec![None; names.len()];
        if args.len() > names.len() {
            return Err(Error::param(
                def.name,
                format!("{name}: takes {} input(s) ({}), got {} positional", names.len(), names.join(", "), args.len()),
            ));
        }
        for (i, s) in args.iter().enumerate() {
            slots[i] = Some(s.single_entry(def.name, &names[i])?);
        }
        for (k, s) in kwargs {
            let Some(i) = names.iter().position(|n| n == k) else {
                return Err(Error::param(
                    def.name,
                    format!("{name}: unknown input '{k}'; the inputs are {}", names.join(", ")),
                ));
            };
            if slots[i].is_some() {
                return Err(Error::param(def.name, format!("{name}: input '{k}' given twice")));
            }
            slots[i] = Some(s.single_entry(def.name, k)?);
        }
        let n_aux = inst.num_aux();
        let first_aux = names.len().saturating_sub(n_aux);
        let inputs = slots
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                e.unwrap_or_else(|| {
                    let mut a = attrs.clone();
                    if i >= first_aux
                        && let Some(init) = aux_init(&names[i])
                    {
                        a.set("__init__", init);
                    }
                    let node = Node {
                        op: None,
                        instance: None,
                        name: format!("{name}_{}", names[i]),
                        attrs: a,
                        inputs: Vec::new(),
                        auto: true,
                    };
                    Entry { node: Arc::new(node), index: 0 }
                })
            })
            .collect();
        let node =
            Arc::new(Node { op: Some(def), instance: Some(inst), name: name.to_string(), attrs, inputs, auto: false });
        let visible = node.num_visible_outputs();
        Ok(Symbol { outputs: (0..visible).map(|index| Entry { node: node.clone(), index }).collect() })
    }

    fn single_entry(&self, op: &str, input: &str) -> Result<Entry> {
        match self.outputs.as_slice() {
            [e] => Ok(e.clone()),
            _ => Err(Error::param(
                op,
                format!(
                    "input '{input}' must be a symbol with one output, got {} outputs ({})",
                    self.outputs.len(),
                    self.list_outputs().join(", ")
                ),
            )),
        }
    }

    /// Several symbols' outputs as one symbol.
    pub fn group(symbols: &[Symbol]) -> Symbol {
        Symbol { outputs: symbols.iter().flat_map(|s| s.outputs.iter().cloned()).collect() }
    }

    /// Every node reachable from the outputs, inputs before users (DFS post-order, MXNet's
    /// JSON order).
    pub fn topo_nodes(&self) -> Vec<Arc<Node>> {
        let mut seen = HashSet::new();
        let mut order = Vec::new();
        // Iterative DFS: (node, next input to visit).
        for head in &self.outputs {
            if seen.contains(&head.key()) {
                continue;
            }
            let mut stack: Vec<(Arc<Node>, usize)> = vec![(head.node.clone(), 0)];
            seen.insert(head.key());
            while let Some((node, i)) = stack.pop() {
                if i < node.inputs.len() {
                    let child = node.inputs[i].clone();
                    stack.push((node, i + 1));
                    if seen.insert(child.key()) {
                        stack.push((child.node, 0));
                    }
                } else {
                    order.push(node);
                }
            }
        }
        order
    }

    /// Variables used as aux states (the last `num_aux` inputs of some op), by node identity.
    fn aux_keys(nodes: &[Arc<Node>]) -> HashSet<usize> {
        let mut aux = HashSet::new();
        for n in nodes {
            let k = n.num_aux();
            if k > 0 {
                for e in &n.inputs[n.inputs.len() - k..] {
                    if e.node.is_variable() {
                        aux.insert(e.key());
                    }
                }
            }
        }
        aux
    }

    /// Variable nodes in order, split into (arguments, aux states).
    pub fn variables(&self) -> (Vec<Arc<Node>>, Vec<Arc<Node>>) {
        let nodes = self.topo_nodes();
        let aux = Self::aux_keys(&nodes);
        let (mut args, mut auxs) = (Vec::new(), Vec::new());
        for n in nodes.into_iter().filter(|n| n.is_variable()) {
            if aux.contains(&(Arc::as_ptr(&n) as usize)) { auxs.push(n) } else { args.push(n) }
        }
        (args, auxs)
    }

    /// `list_arguments()`.
    pub fn list_arguments(&self) -> Vec<String> {
        self.variables().0.iter().map(|n| n.name.clone()).collect()
    }
    /// `list_auxiliary_states()`.
    pub fn list_auxiliary_states(&self) -> Vec<String> {
        self.variables().1.iter().map(|n| n.name.clone()).collect()
    }
    /// `list_inputs()`: every variable.
    pub fn list_inputs(&self) -> Vec<String> {
        self.topo_nodes().iter().filter(|n| n.is_variable()).map(|n| n.name.clone()).collect()
    }
    /// `list_outputs()`.
    pub fn list_outputs(&self) -> Vec<String> {
        self.outputs.iter().map(|e| e.node.output_name(e.index)).collect()
    }
    /// `get_internals()`: every visible output of every node, in node order.
    pub fn get_internals(&self) -> Symbol {
        let mut outputs = Vec::new();
        for n in self.topo_nodes() {
            for index in 0..n.num_visible_outputs() {
                outputs.push(Entry { node: n.clone(), index });
            }
        }
        Symbol { outputs }
    }
    /// `get_children()`: the inputs of the head node(s).
    pub fn get_children(&self) -> Option<Symbol> {
        let outputs: Vec<Entry> = self.outputs.iter().flat_map(|e| e.node.inputs.iter().cloned()).collect();
        (!outputs.is_empty()).then_some(Symbol { outputs })
    }
    /// One output by position.
    pub fn output(&self, i: usize) -> Result<Symbol> {
        self.outputs.get(i).map(|e| Symbol { outputs: vec![e.clone()] }).ok_or_else(|| {
            Error::Index(format!("symbol has {} output(s), index {i} is out of range", self.outputs.len()))
        })
    }
    /// The name of a single-output symbol's node.
    pub fn name(&self) -> Option<String> {
        match self.outputs.as_slice() {
            [e] => Some(e.node.name.clone()),
            _ => None,
        }
    }

    /// `sym(**kwargs, name=...)`: a copy of the graph whose free variables named in `kwargs`
    /// are replaced by those symbols. With `name`, the head node is renamed and the variables
    /// made automatically for this symbol's ops take `name_` as a prefix (the seed's rule).
    pub fn compose(&self, name: Option<&str>, kwargs: &[(String, Symbol)]) -> Result<Symbol> {
        let free: Vec<String> = self.list_inputs();
        for (k, _) in kwargs {
            if !free.contains(k) {
                return Err(Error::param(
                    "compose",
                    format!("no free variable is called '{k}'; candidates are {}", free.join(", ")),
                ));
            }
        }
        let mut repl: HashMap<String, Entry> = HashMap::new();
        for (k, s) in kwargs {
            repl.insert(k.clone(), s.single_entry("compose", k)?);
        }
        let head_keys: HashSet<usize> = self.outputs.iter().map(|e| e.key()).collect();
        let mut memo: HashMap<usize, Arc<Node>> = HashMap::new();
        let mut replaced: HashMap<usize, Entry> = HashMap::new();
        for n in self.topo_nodes() {
            let key = Arc::as_ptr(&n) as usize;
            if n.is_variable() {
                if let Some(e) = repl.get(&n.name) {
                    replaced.insert(key, e.clone());
                    continue;
                }
                let new_name = match name {
                    Some(p) if n.auto => format!("{p}_{}", n.name),
                    _ => n.name.clone(),
                };
                let v = Node {
                    op: None,
                    instance: None,
                    name: new_name,
                    attrs: n.attrs.clone(),
                    inputs: Vec::new(),
                    auto: n.auto,
                };
                memo.insert(key, Arc::new(v));
                continue;
            }
            let inputs = n
                .inputs
                .iter()
                .map(|e| match replaced.get(&e.key()) {
                    Some(r) => r.clone(),
                    None => Entry { node: memo[&e.key()].clone(), index: e.index },
                })
                .collect();
            let new_name = match name {
                Some(p) if head_keys.contains(&key) => p.to_string(),
                _ => n.name.clone(),
            };
            let c = Node {
                op: n.op.clone(),
                instance: n.instance.clone(),
                name: new_name,
                attrs: n.attrs.clone(),
                inputs,
                auto: false,
            };
            memo.insert(key, Arc::new(c));
        }
        let outputs = self
            .outputs
            .iter()
            .map(|e| match replaced.get(&e.key()) {
                Some(r) => r.clone(),
                None => Entry { node: memo[&e.key()].clone(), index: e.index },
            })
            .collect();
        Ok(Symbol { outputs })
    }

    /// Attributes of a single-output symbol's node.
    pub fn attrs(&self) -> Option<&Attrs> {
        match self.outputs.as_slice() {
            [e] => Some(&e.node.attrs),
            _ => None,
        }
    }

    /// `attr_dict()`: node name -> attributes, for nodes with any.
    pub fn attr_dict(&self) -> Vec<(String, Attrs)> {
        self.topo_nodes().iter().filter(|n| !n.attrs.0.is_empty()).map(|n| (n.name.clone(), n.attrs.clone())).collect()
    }

    /// A copy whose single head node carries extra attributes (`_set_attr`).
    pub fn with_attrs(&self, extra: &Attrs) -> Result<Symbol> {
        let [e] = self.outputs.as_slice() else {
            return Err(Error::param("_set_attr", "only a symbol with one output can take attributes"));
        };
        let n = &e.node;
        let mut attrs = n.attrs.clone();
        for (k, v) in &extra.0 {
            attrs.set(k, v.clone());
        }
        let instance = match &n.op {
            Some(def) => Some(make_instance(def, &n.name, &attrs)?),
            None => None,
        };
        let node =
            Node { op: n.op.clone(), instance, name: n.name.clone(), attrs, inputs: n.inputs.clone(), auto: n.auto };
        Ok(Symbol { outputs: vec![Entry { node: Arc::new(node), index: e.index }] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dot(data, <name>_rhs)`: an op with an automatically made weight.
    fn fc(data: &Symbol, name: &str, _hidden: usize) -> Symbol {
        Symbol::create("dot", name, Attrs::default(), &[], &[("lhs".into(), data.clone())]).unwrap()
    }

    #[test]
    fn seed_compose_renames_auto_arguments() {
        let net = fc(&Symbol::variable("data", Attrs::default()), "fc1", 128);
        let net2 = fc(&Symbol::variable("data2", Attrs::default()), "net2", 128);
        let c = net.compose(Some("compose"), &[("data".into(), net2)]).unwrap();
        assert_eq!(c.list_arguments(), ["data2", "net2_rhs", "compose_fc1_rhs"]);
        assert_eq!(c.list_outputs(), ["compose_output"]);
        assert_eq!(net.list_arguments(), ["data", "fc1_rhs"]);
    }

    #[test]
    fn unknown_kwarg_lists_candidates() {
        let net = fc(&Symbol::variable("data", Attrs::default()), "fc1", 4);
        let e = net.compose(None, &[("nope".into(), Symbol::variable("x", Attrs::default()))]).unwrap_err();
        assert!(e.to_string().contains("fc1_rhs"), "{e}");
    }
}
