//! Category types, validation and tree checks. Pure: no I/O. Refusals are
//! [`InvalidCategory`] and [`TreeRefusal`]; `categories/mod.rs` maps them
//! to HTTP errors.

use std::collections::HashMap;

use mercato_tenants::CategoryId;
use serde::{Deserialize, Deserializer, Serialize};

use crate::collections::{InvalidHandle, Slug};

/// Deepest a tree may be: a root is at depth 1.
pub const MAX_DEPTH: usize = 8;
pub const MAX_POSITION: i32 = 1_000_000;
/// Longest name, in characters (as the column's check counts them).
pub const MAX_NAME: usize = 255;

/// Why a new category or a change to one is refused (its own fields).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCategory {
    #[error(transparent)]
    Handle(#[from] InvalidHandle),
    #[error("name must be 1 to {max} characters")]
    Name { max: usize },
    #[error("position must be 0 to {max}")]
    Position { max: i32 },
}

/// Why a category cannot go where it was asked to, in the tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeRefusal {
    #[error("no such parent category: {0}")]
    UnknownParent(CategoryId),
    #[error("the category tree is at most {max} levels deep")]
    TooDeep { max: usize },
    #[error("a category cannot move under itself or one of its descendants")]
    UnderItself,
    /// The stored parents loop or lead to an unknown category.
    #[error("the category tree is inconsistent")]
    Inconsistent,
}

/// A category as stored: one node of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Category {
    pub id: CategoryId,
    /// `null` for a root.
    pub parent_id: Option<CategoryId>,
    pub handle: String,
    pub name: String,
    /// Siblings are ordered by position, then name.
    pub position: i32,
}

/// A category with its sub-categories, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryNode {
    pub id: CategoryId,
    pub handle: String,
    pub name: String,
    pub position: i32,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

/// The whole tree: its roots, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CategoryTree {
    pub categories: Vec<CategoryNode>,
}

/// Nests categories under their parents, siblings ordered by position,
/// then name, then id. Nodes not reachable from a root are left out.
pub fn build_tree(all: Vec<Category>) -> Vec<CategoryNode> {
    let mut children: HashMap<Option<CategoryId>, Vec<Category>> = HashMap::new();
    for c in all {
        children.entry(c.parent_id).or_default().push(c);
    }
    for siblings in children.values_mut() {
        siblings.sort_by(|a, b| (a.position, &a.name, a.id).cmp(&(b.position, &b.name, b.id)));
    }
    fn nest(
        parent: Option<CategoryId>,
        children: &mut HashMap<Option<CategoryId>, Vec<Category>>,
        depth: usize,
    ) -> Vec<CategoryNode> {
        let Some(siblings) = children.remove(&parent) else {
            return Vec::new();
        };
        siblings
            .into_iter()
            .map(|c| CategoryNode {
                // Depth is bounded on write; the bound here only guards
                // against a corrupt table.
                children: if depth < MAX_DEPTH * 2 {
                    nest(Some(c.id), children, depth + 1)
                } else {
                    Vec::new()
                },
                id: c.id,
                handle: c.handle,
                name: c.name,
                position: c.position,
            })
            .collect()
    }
    nest(None, &mut children, 1)
}

/// Parent of each category of a store.
pub type Parents = HashMap<CategoryId, Option<CategoryId>>;

/// Depth of `id` (1 for a root), or `None` if it is unknown or its
/// ancestors loop.
pub fn depth(parents: &Parents, id: CategoryId) -> Option<usize> {
    let mut at = id;
    for d in 1..=parents.len() {
        match parents.get(&at)? {
            None => return Some(d),
            Some(p) => at = *p,
        }
    }
    None
}

/// Height of the subtree under `id` (1 for a leaf).
fn height(parents: &Parents, id: CategoryId) -> usize {
    let mut children: HashMap<CategoryId, Vec<CategoryId>> = HashMap::new();
    for (c, p) in parents {
        if let Some(p) = p {
            children.entry(*p).or_default().push(*c);
        }
    }
    let mut best = 0;
    let mut stack = vec![(id, 1usize)];
    while let Some((node, d)) = stack.pop() {
        best = best.max(d);
        if d > parents.len() {
            break;
        }
        for c in children.get(&node).into_iter().flatten() {
            stack.push((*c, d + 1));
        }
    }
    best
}

/// Whether a new category may go under `parent`.
pub fn check_new(parents: &Parents, parent: Option<CategoryId>) -> Result<(), TreeRefusal> {
    let Some(parent) = parent else {
        return Ok(());
    };
    let d = depth(parents, parent).ok_or(TreeRefusal::UnknownParent(parent))?;
    if d + 1 > MAX_DEPTH {
        return Err(TreeRefusal::TooDeep { max: MAX_DEPTH });
    }
    Ok(())
}

/// Whether `moving` may go under `new_parent`: the parent exists, is not
/// `moving` itself nor one of its descendants, and the tree stays within
/// [`MAX_DEPTH`].
pub fn check_move(
    parents: &Parents,
    moving: CategoryId,
    new_parent: Option<CategoryId>,
) -> Result<(), TreeRefusal> {
    let Some(new_parent) = new_parent else {
        return Ok(());
    };
    if !parents.contains_key(&new_parent) {
        return Err(TreeRefusal::UnknownParent(new_parent));
    }
    let mut at = Some(new_parent);
    let mut steps = 0;
    while let Some(node) = at {
        if node == moving {
            return Err(TreeRefusal::UnderItself);
        }
        steps += 1;
        if steps > parents.len() {
            break;
        }
        at = parents.get(&node).copied().flatten();
    }
    let parent_depth = depth(parents, new_parent).ok_or(TreeRefusal::Inconsistent)?;
    if parent_depth + height(parents, moving) > MAX_DEPTH {
        return Err(TreeRefusal::TooDeep { max: MAX_DEPTH });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), InvalidCategory> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME {
        return Err(InvalidCategory::Name { max: MAX_NAME });
    }
    Ok(())
}

fn check_position(position: i32) -> Result<(), InvalidCategory> {
    if !(0..=MAX_POSITION).contains(&position) {
        return Err(InvalidCategory::Position { max: MAX_POSITION });
    }
    Ok(())
}

/// `POST /admin/api/categories`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// Lower-case slug, 1 to 63 characters, unique among the store's categories.
    #[schema(min_length = 1, max_length = 63, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub handle: String,
    /// 1 to 255 characters, not only white space (stored trimmed).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// Omit or `null` for a root.
    pub parent_id: Option<CategoryId>,
    /// 0 to 1,000,000; default 0.
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub position: Option<i32>,
}

#[derive(Debug)]
pub struct ValidCategory {
    pub handle: Slug,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    pub position: i32,
}

impl NewCategory {
    pub fn validate(self) -> Result<ValidCategory, InvalidCategory> {
        let handle = Slug::parse(&self.handle)?;
        check_name(&self.name)?;
        let position = self.position.unwrap_or(0);
        check_position(position)?;
        Ok(ValidCategory {
            handle,
            name: self.name.trim().to_owned(),
            parent_id: self.parent_id,
            position,
        })
    }
}

/// `PATCH /admin/api/categories/{id}`: rename, re-handle, move (`parent_id`,
/// `null` for a root) or re-position.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    /// Lower-case slug, 1 to 63 characters, unique among the store's categories.
    #[schema(min_length = 1, max_length = 63, pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub handle: Option<String>,
    /// 1 to 255 characters, not only white space (stored trimmed).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
    /// Absent: stay; `null`: become a root; an id: move under it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CategoryId>)]
    pub parent_id: Option<Option<CategoryId>>,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub position: Option<i32>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<CategoryId>>, D::Error> {
    Option::<CategoryId>::deserialize(d).map(Some)
}

#[derive(Debug, Default)]
pub struct ValidCategoryPatch {
    pub handle: Option<Slug>,
    pub name: Option<String>,
    pub parent_id: Option<Option<CategoryId>>,
    pub position: Option<i32>,
}

impl CategoryPatch {
    pub fn validate(self) -> Result<ValidCategoryPatch, InvalidCategory> {
        let handle = self.handle.as_deref().map(Slug::parse).transpose()?;
        if let Some(n) = &self.name {
            check_name(n)?;
        }
        if let Some(p) = self.position {
            check_position(p)?;
        }
        Ok(ValidCategoryPatch {
            handle,
            name: self.name.map(|n| n.trim().to_owned()),
            parent_id: self.parent_id,
            position: self.position,
        })
    }
}

/// `PUT /admin/api/products/{id}/categories`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryIds {
    /// The product's categories, replacing the ones it had; at most 100.
    pub category_ids: Vec<CategoryId>,
}

/// A product's categories.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductCategories {
    pub product_id: mercato_tenants::ProductId,
    pub categories: Vec<Category>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: CategoryId, parent: Option<CategoryId>, name: &str, position: i32) -> Category {
        Category {
            id,
            parent_id: parent,
            handle: name.to_lowercase(),
            name: name.into(),
            position,
        }
    }

    #[test]
    fn tree_nests_and_orders_by_position_then_name() {
        let (a, b, c, d, e) = (
            CategoryId::new(),
            CategoryId::new(),
            CategoryId::new(),
            CategoryId::new(),
            CategoryId::new(),
        );
        let tree = build_tree(vec![
            cat(d, Some(a), "Zeta", 0),
            cat(a, None, "Men", 1),
            cat(b, None, "Women", 0),
            cat(e, Some(a), "Alpha", 0),
            cat(c, Some(e), "Deep", 5),
        ]);
        let names =
            |nodes: &[CategoryNode]| nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&tree), ["Women", "Men"]);
        assert_eq!(names(&tree[1].children), ["Alpha", "Zeta"]);
        assert_eq!(names(&tree[1].children[0].children), ["Deep"]);
        assert!(tree[0].children.is_empty());
    }

    fn chain(n: usize) -> (Vec<CategoryId>, Parents) {
        let ids: Vec<CategoryId> = (0..n).map(|_| CategoryId::new()).collect();
        let parents = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i.checked_sub(1).map(|p| ids[p])))
            .collect();
        (ids, parents)
    }

    #[test]
    fn moves_that_would_make_a_cycle_are_refused() {
        let (ids, mut parents) = chain(3);
        let other = CategoryId::new();
        parents.insert(other, None);
        // Under itself, under its child, under its grandchild.
        for target in &ids {
            let err = check_move(&parents, ids[0], Some(*target)).expect_err("cycle");
            assert_eq!(err, TreeRefusal::UnderItself);
        }
        assert!(check_move(&parents, ids[1], Some(ids[1])).is_err());
        assert!(check_move(&parents, ids[1], Some(ids[2])).is_err());
        // Sideways, up, to the root: fine.
        assert!(check_move(&parents, ids[2], Some(ids[0])).is_ok());
        assert!(check_move(&parents, ids[1], Some(other)).is_ok());
        assert!(check_move(&parents, ids[0], Some(other)).is_ok());
        assert!(check_move(&parents, ids[2], None).is_ok());
        // Unknown parent.
        let unknown = CategoryId::new();
        assert_eq!(
            check_move(&parents, ids[2], Some(unknown)),
            Err(TreeRefusal::UnknownParent(unknown))
        );
    }

    #[test]
    fn depth_is_bounded() {
        let (ids, mut parents) = chain(MAX_DEPTH);
        assert_eq!(depth(&parents, ids[MAX_DEPTH - 1]), Some(MAX_DEPTH));
        assert!(check_new(&parents, Some(ids[MAX_DEPTH - 2])).is_ok());
        assert_eq!(
            check_new(&parents, Some(ids[MAX_DEPTH - 1])),
            Err(TreeRefusal::TooDeep { max: MAX_DEPTH })
        );
        assert!(check_new(&parents, None).is_ok());
        let unknown = CategoryId::new();
        assert_eq!(
            check_new(&parents, Some(unknown)),
            Err(TreeRefusal::UnknownParent(unknown))
        );
        // A two-level subtree cannot go under the second-deepest node.
        let (a, b) = (CategoryId::new(), CategoryId::new());
        parents.insert(a, None);
        parents.insert(b, Some(a));
        assert_eq!(
            check_move(&parents, a, Some(ids[MAX_DEPTH - 2])),
            Err(TreeRefusal::TooDeep { max: MAX_DEPTH })
        );
        assert!(check_move(&parents, a, Some(ids[MAX_DEPTH - 3])).is_ok());
    }

    /// The characters of `0..=U+3000` (past the last white space and
    /// control character) `keep` holds, as a regex class body: `\uXXXX`, two
    /// neighbours as two, longer runs as `\uXXXX-\uXXXX`.
    fn class(keep: impl Fn(char) -> bool) -> String {
        let hex = |c: u32| format!("\\u{c:04X}");
        let mut out = String::new();
        let mut c = 0;
        while c <= 0x3000 {
            if char::from_u32(c).is_some_and(&keep) {
                let start = c;
                while c < 0x3000 && char::from_u32(c + 1).is_some_and(&keep) {
                    c += 1;
                }
                out += &match c - start {
                    0 => hex(start),
                    1 => hex(start) + &hex(c),
                    _ => format!("{}-{}", hex(start), hex(c)),
                };
            }
            c += 1;
        }
        out
    }

    /// The document's `name` rule is the handler's with the JSON body's own:
    /// no control character but tab, line feed and carriage return
    /// (`invalid_text`), at least one character `str::trim` keeps, at most
    /// 255 characters.
    #[test]
    fn name_schema_says_the_handler_rule() {
        use utoipa::PartialSchema;
        let refused = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
        let text = class(refused);
        let blank = class(|c| refused(c) || c.is_whitespace());
        let expected = format!("^[^{text}]*[^{blank}][^{text}]*$");
        for schema in [CategoryPatch::schema(), NewCategory::schema()] {
            let schema = serde_json::to_value(schema).expect("schema");
            let name = &schema["properties"]["name"];
            assert_eq!(name["maxLength"], 255);
            assert_eq!(name["pattern"], expected.as_str());
        }
        let patch = |name: String| CategoryPatch {
            name: Some(name),
            ..CategoryPatch::default()
        };
        assert!(patch("é".repeat(MAX_NAME)).validate().is_ok());
        assert!(patch("é".repeat(MAX_NAME + 1)).validate().is_err());
        assert!(patch(" \u{3000}\u{85}".into()).validate().is_err());
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let patch =
            |v: serde_json::Value| serde_json::from_value::<CategoryPatch>(v).expect("shape");
        assert_eq!(patch(serde_json::json!({"name": "x"})).parent_id, None);
        assert_eq!(
            patch(serde_json::json!({"parent_id": null})).parent_id,
            Some(None)
        );
        let id = CategoryId::new();
        assert_eq!(
            patch(serde_json::json!({"parent_id": id})).parent_id,
            Some(Some(id))
        );
        assert_eq!(
            patch(serde_json::json!({"position": -1}))
                .validate()
                .expect_err("negative"),
            InvalidCategory::Position { max: MAX_POSITION }
        );
        assert_eq!(
            patch(serde_json::json!({"handle": "Bad"}))
                .validate()
                .expect_err("upper case"),
            InvalidCategory::Handle(InvalidHandle("Bad".into()))
        );
        assert_eq!(
            patch(serde_json::json!({"name": " "}))
                .validate()
                .expect_err("blank"),
            InvalidCategory::Name { max: MAX_NAME }
        );
    }
}
