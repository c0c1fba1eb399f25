import assert from "node:assert/strict";
import { nextPageUrl } from "./_link.ts";

const PAGE = "http://127.0.0.1:5000/v2/app/tags/list";

Deno.test("the next page of a Link header, resolved against the page", () => {
  assert.equal(
    nextPageUrl('</v2/app/tags/list?n=2&last=b>; rel="next"', PAGE),
    "http://127.0.0.1:5000/v2/app/tags/list?n=2&last=b",
  );
  assert.equal(
    nextPageUrl("<https://r.example/v2/app/tags/list?last=b>; rel=next", PAGE),
    "https://r.example/v2/app/tags/list?last=b",
  );
  assert.equal(
    nextPageUrl('</first>; rel="first", </v2/app/tags/list?last=c>; rel="next"', PAGE),
    "http://127.0.0.1:5000/v2/app/tags/list?last=c",
  );
});

Deno.test("no next page: no header, or no rel=next", () => {
  assert.equal(nextPageUrl(null, PAGE), undefined);
  assert.equal(nextPageUrl("", PAGE), undefined);
  assert.equal(nextPageUrl('</v2/app/tags/list?last=a>; rel="prev"', PAGE), undefined);
  assert.equal(nextPageUrl("garbage", PAGE), undefined);
});
