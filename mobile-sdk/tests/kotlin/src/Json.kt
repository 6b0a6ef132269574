// The little JSON the Kotlin binding tests read: the server's demo listing, WebAuthn options
// and the practice API's answers. Objects become maps, arrays lists, numbers doubles.

package gponline.sdktest

object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.space()
        check(reader.at == text.length) { "trailing characters in JSON at ${reader.at}" }
        return value
    }

    /** [value] (as [parse] gives it) written back as JSON. */
    fun write(value: Any?): String = when (value) {
        null -> "null"
        is String -> quote(value)
        is Boolean -> value.toString()
        is Double -> if (value % 1.0 == 0.0) value.toLong().toString() else value.toString()
        is Map<*, *> -> value.entries.joinToString(",", "{", "}") { quote(it.key as String) + ":" + write(it.value) }
        is List<*> -> value.joinToString(",", "[", "]") { write(it) }
        else -> error("no JSON for ${value::class}")
    }

    /** A JSON string literal of [text]. */
    fun quote(text: String): String = buildString {
        append('"')
        for (c in text) {
            when {
                c == '"' -> append("\\\"")
                c == '\\' -> append("\\\\")
                c < ' ' -> append("\\u%04x".format(c.code))
                else -> append(c)
            }
        }
        append('"')
    }

    private class Reader(val text: String) {
        var at = 0

        fun space() {
            while (at < text.length && text[at].isWhitespace()) at++
        }

        fun value(): Any? {
            space()
            check(at < text.length) { "JSON ended early" }
            return when (val c = text[at]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> word("true", true)
                'f' -> word("false", false)
                'n' -> word("null", null)
                else -> if (c == '-' || c.isDigit()) number() else error("unexpected '$c' at $at")
            }
        }

        fun word(word: String, value: Any?): Any? {
            check(text.startsWith(word, at)) { "bad JSON word at $at" }
            at += word.length
            return value
        }

        fun number(): Double {
            val start = at
            while (at < text.length && (text[at].isDigit() || text[at] in "+-.eE")) at++
            return text.substring(start, at).toDouble()
        }

        fun string(): String {
            at++
            val out = StringBuilder()
            while (true) {
                val c = text[at++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        when (val e = text[at++]) {
                            'n' -> out.append('\n')
                            't' -> out.append('\t')
                            'r' -> out.append('\r')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'u' -> {
                                out.append(text.substring(at, at + 4).toInt(16).toChar())
                                at += 4
                            }
                            else -> out.append(e)
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        fun array(): List<Any?> {
            at++
            val out = mutableListOf<Any?>()
            space()
            if (text[at] == ']') {
                at++
                return out
            }
            while (true) {
                out.add(value())
                space()
                when (text[at++]) {
                    ',' -> continue
                    ']' -> return out
                    else -> error("bad JSON array at $at")
                }
            }
        }

        fun obj(): Map<String, Any?> {
            at++
            val out = linkedMapOf<String, Any?>()
            space()
            if (text[at] == '}') {
                at++
                return out
            }
            while (true) {
                space()
                val key = string()
                space()
                check(text[at++] == ':') { "bad JSON object at $at" }
                out[key] = value()
                space()
                when (text[at++]) {
                    ',' -> continue
                    '}' -> return out
                    else -> error("bad JSON object at $at")
                }
            }
        }
    }
}

/** The member [name] of a JSON object. */
@Suppress("UNCHECKED_CAST")
operator fun Any?.get(name: String): Any? = (this as Map<String, Any?>)[name]

/** The element [index] of a JSON array. */
@Suppress("UNCHECKED_CAST")
operator fun Any?.get(index: Int): Any? = (this as List<Any?>)[index]

/** The value as text. */
fun Any?.text(): String = this as String
