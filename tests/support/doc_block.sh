# Sourced by tests that run a document's commands as written. A fenced block
# is marked for a test by the line `<!-- test: TAG -->` before it (blank
# lines between are fine); docs_tags_test.sh checks that every block of such a
# document has a tag, so no command in it goes untested.
#   doc_block FILE TAG     prints the body of the block tagged TAG
#   run_doc_block FILE TAG runs it with bash -e, echoing each command (set -x)
doc_block() {
  awk -v tag="$2" '
    /^```/ { if (fenced) { fenced = 0; copying = 0; found += (t == tag); t = ""; next }
             fenced = 1; copying = (t == tag); next }
    !fenced && /^<!-- test: [a-z0-9-]+ -->$/ { t = $3; next }
    !fenced && NF { t = "" }
    copying { print }
    END { if (!found) { print "doc_block: no block tagged " tag " in " FILENAME > "/dev/stderr"; exit 1 } }
  ' "$1"
}
run_doc_block() {
  local body
  body=$(doc_block "$1" "$2") || return 1
  bash -ex -c "$body"
}
