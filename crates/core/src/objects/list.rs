//! ListObjects and ListMultipartUploads: delimiter grouping, markers, exact truncation.
//!
//! Keys are read from the store in pages sized to what the response still needs (+1 to
//! learn whether it is truncated). When a key falls into a common prefix, the whole
//! group is skipped with one new store query that starts after `group + U+10FFFF`, so a
//! folder of 10k keys costs one query, not 10k rows.

use super::{
    ListObjectsInput, ListObjectsOutput, ListUploadsInput, ListUploadsOutput, ObjectService,
};
use crate::error::Result;
use crate::model::{MultipartUpload, ObjectSummary};
use std::collections::VecDeque;

/// Most rows asked of the store per query.
const MAX_FETCH: usize = 1001;
/// Rows asked right after a group skip. The next key may well open another large
/// group, whose rows past the first are wasted; the batch doubles while no skip occurs.
const AFTER_SKIP_FETCH: usize = 16;

/// The common prefix `key` belongs to: `prefix` plus everything up to and including the
/// first `delimiter` after it.
pub(super) fn group_of<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Smallest string greater than every key that starts with `group`, except keys whose
/// next character is U+10FFFF itself; those are rare and skipped again by the caller.
pub(super) fn past_group(group: &str) -> String {
    format!("{group}{}", char::MAX)
}

struct KeyScan<'a> {
    svc: &'a ObjectService,
    bucket: &'a str,
    prefix: &'a str,
    /// Last key fetched (or the skip bound): the next query starts after it.
    cursor: String,
    buf: VecDeque<ObjectSummary>,
    more: bool,
    /// Upper bound on the next query's size (see `AFTER_SKIP_FETCH`).
    batch: usize,
}

impl KeyScan<'_> {
    async fn next(&mut self, want: usize) -> Result<Option<ObjectSummary>> {
        if self.buf.is_empty() && self.more {
            let limit = want.min(self.batch).clamp(1, MAX_FETCH);
            self.batch = self.batch.saturating_mul(2);
            let page = self
                .svc
                .meta
                .list_objects(self.bucket, self.prefix, &self.cursor, limit)
                .await?;
            // An empty page ends the scan even if flagged truncated: no progress possible.
            self.more = page.truncated && !page.objects.is_empty();
            if let Some(last) = page.objects.last() {
                self.cursor = last.key.clone();
            }
            self.buf.extend(page.objects);
        }
        Ok(self.buf.pop_front())
    }

    fn skip_group(&mut self, group: &str) {
        while self.buf.front().is_some_and(|o| o.key.starts_with(group)) {
            self.buf.pop_front();
        }
        if self.buf.is_empty() {
            let bound = past_group(group);
            if bound > self.cursor {
                self.cursor = bound;
            }
            self.batch = AFTER_SKIP_FETCH;
        }
    }
}

impl ObjectService {
    pub(super) async fn do_list_objects(
        &self,
        input: ListObjectsInput,
    ) -> Result<ListObjectsOutput> {
        self.get_bucket(&input.bucket).await?;
        let mut out = ListObjectsOutput::default();
        if input.max_keys == 0 {
            return Ok(out);
        }
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut scan = KeyScan {
            svc: self,
            bucket: &input.bucket,
            prefix: &input.prefix,
            cursor: input.start_after.clone(),
            buf: VecDeque::new(),
            more: true,
            batch: usize::MAX,
        };
        let mut count = 0usize;
        let mut last_group: Option<String> = None;
        while let Some(obj) = scan.next(input.max_keys - count + 1).await? {
            match group_of(&obj.key, &input.prefix, delimiter) {
                Some(group) => {
                    let group = group.to_string();
                    scan.skip_group(&group);
                    // A group at or before the marker was returned by an earlier page.
                    if last_group.as_deref() == Some(group.as_str())
                        || group.as_str() <= input.start_after.as_str()
                    {
                        continue;
                    }
                    if count == input.max_keys {
                        out.is_truncated = true;
                        break;
                    }
                    out.next_marker = Some(group.clone());
                    out.common_prefixes.push(group.clone());
                    last_group = Some(group);
                }
                None => {
                    if count == input.max_keys {
                        out.is_truncated = true;
                        break;
                    }
                    out.next_marker = Some(obj.key.clone());
                    out.objects.push(obj);
                }
            }
            count += 1;
        }
        Ok(out)
    }

    pub(super) async fn do_list_uploads(
        &self,
        input: ListUploadsInput,
    ) -> Result<ListUploadsOutput> {
        self.get_bucket(&input.bucket).await?;
        let mut out = ListUploadsOutput::default();
        if input.max_uploads == 0 {
            return Ok(out);
        }
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut cursor = (input.key_marker.clone(), input.upload_id_marker.clone());
        let mut buf: VecDeque<MultipartUpload> = VecDeque::new();
        let mut more = true;
        let mut count = 0usize;
        let mut last_group: Option<String> = None;
        loop {
            if buf.is_empty() && more {
                let limit = (input.max_uploads - count + 1).clamp(1, MAX_FETCH);
                let page = self
                    .meta
                    .list_uploads(&input.bucket, &input.prefix, &cursor.0, &cursor.1, limit)
                    .await?;
                more = page.len() >= limit;
                if let Some(last) = page.last() {
                    cursor = (last.key.clone(), last.upload_id.clone());
                }
                buf.extend(page);
            }
            let Some(upload) = buf.pop_front() else {
                break;
            };
            match group_of(&upload.key, &input.prefix, delimiter) {
                Some(group) => {
                    let group = group.to_string();
                    while buf.front().is_some_and(|u| u.key.starts_with(&group)) {
                        buf.pop_front();
                    }
                    let bound = past_group(&group);
                    if buf.is_empty() && bound > cursor.0 {
                        cursor = (bound, String::new());
                    }
                    if last_group.as_deref() == Some(group.as_str())
                        || group.as_str() <= input.key_marker.as_str()
                    {
                        continue;
                    }
                    if count == input.max_uploads {
                        out.is_truncated = true;
                        break;
                    }
                    out.next_key_marker = Some(group.clone());
                    out.next_upload_id_marker = None;
                    out.common_prefixes.push(group.clone());
                    last_group = Some(group);
                }
                None => {
                    if count == input.max_uploads {
                        out.is_truncated = true;
                        break;
                    }
                    out.next_key_marker = Some(upload.key.clone());
                    out.next_upload_id_marker = Some(upload.upload_id.clone());
                    out.uploads.push(upload);
                }
            }
            count += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        assert_eq!(group_of("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(group_of("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(group_of("a/b", "a/", Some("/")), None);
        assert_eq!(group_of("a/b", "a/", None), None);
        assert_eq!(
            group_of("photos2024/x", "photos", Some("20")),
            Some("photos20")
        );
        assert!(past_group("a/").as_str() > "a/zzzz\u{FFFF}");
    }
}
