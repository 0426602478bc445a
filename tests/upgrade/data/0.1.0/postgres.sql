--
-- PostgreSQL database dump
--

\restrict fUSGZ9FzN4AqWOV2DO8KbPuimjHOkRlpMn0T9rRyr6Dl8ZdbiJ5p8bMmrLcgkez

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: release_data; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA release_data;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: admin_sessions; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.admin_sessions (
    id_hash text NOT NULL,
    created_at double precision NOT NULL,
    last_seen_at double precision NOT NULL
);


--
-- Name: batches; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.batches (
    id bigint NOT NULL,
    destination text NOT NULL,
    seqs text NOT NULL,
    events bigint NOT NULL,
    state text NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    next_attempt_at double precision NOT NULL,
    last_error text,
    created_at double precision NOT NULL
);


--
-- Name: batches_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.batches_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: batches_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.batches_id_seq OWNED BY release_data.batches.id;


--
-- Name: cursors; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.cursors (
    destination text NOT NULL,
    seq bigint NOT NULL
);


--
-- Name: destinations; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.destinations (
    name text NOT NULL,
    config text NOT NULL,
    "position" bigint NOT NULL,
    created_at double precision NOT NULL
);


--
-- Name: edges; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.edges (
    id bigint NOT NULL,
    a bigint NOT NULL,
    b bigint NOT NULL,
    kind text NOT NULL COLLATE pg_catalog."C",
    ord text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: edges_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.edges_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: edges_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.edges_id_seq OWNED BY release_data.edges.id;


--
-- Name: event_links; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.event_links (
    seq bigint NOT NULL,
    identifier bigint,
    ord text NOT NULL COLLATE pg_catalog."C",
    "timestamp" text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: events; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.events (
    seq bigint NOT NULL,
    source text NOT NULL,
    message_id text NOT NULL,
    type text NOT NULL,
    user_id text,
    anonymous_id text,
    event text,
    received_at text NOT NULL,
    "timestamp" text,
    request_ip text,
    message bytea NOT NULL
);


--
-- Name: events_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.events_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: events_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.events_seq OWNED BY release_data.events.seq;


--
-- Name: group_traits; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.group_traits (
    group_id text NOT NULL COLLATE pg_catalog."C",
    name text NOT NULL COLLATE pg_catalog."C",
    value text NOT NULL COLLATE pg_catalog."C",
    ord text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: identifier_groups; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.identifier_groups (
    identifier bigint NOT NULL,
    group_id text NOT NULL COLLATE pg_catalog."C",
    ord text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: identifier_traits; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.identifier_traits (
    identifier bigint NOT NULL,
    name text NOT NULL COLLATE pg_catalog."C",
    value text NOT NULL COLLATE pg_catalog."C",
    ord text NOT NULL COLLATE pg_catalog."C"
);


--
-- Name: identifiers; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.identifiers (
    id bigint NOT NULL,
    type text NOT NULL COLLATE pg_catalog."C",
    value text NOT NULL COLLATE pg_catalog."C",
    key text NOT NULL COLLATE pg_catalog."C",
    profile bigint NOT NULL,
    unit bigint,
    user_links bigint DEFAULT 0 NOT NULL,
    shared integer DEFAULT 0 NOT NULL,
    first_seen text COLLATE pg_catalog."C",
    last_seen text COLLATE pg_catalog."C",
    event_count bigint DEFAULT 0 NOT NULL
);


--
-- Name: identifiers_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.identifiers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: identifiers_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.identifiers_id_seq OWNED BY release_data.identifiers.id;


--
-- Name: links; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.links (
    id bigint NOT NULL,
    seq bigint NOT NULL,
    a bigint NOT NULL,
    b bigint NOT NULL,
    kind text NOT NULL COLLATE pg_catalog."C",
    ord text NOT NULL COLLATE pg_catalog."C",
    "timestamp" text NOT NULL COLLATE pg_catalog."C",
    message_id text NOT NULL COLLATE pg_catalog."C",
    edge bigint NOT NULL
);


--
-- Name: links_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.links_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: links_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.links_id_seq OWNED BY release_data.links.id;


--
-- Name: meta; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.meta (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: outcomes; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.outcomes (
    destination text NOT NULL,
    delivered_events bigint DEFAULT 0 NOT NULL,
    last_delivered_at double precision,
    last_error text,
    last_error_at double precision
);


--
-- Name: profiles; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.profiles (
    id bigint NOT NULL,
    public_id text NOT NULL COLLATE pg_catalog."C",
    anchor_type text NOT NULL COLLATE pg_catalog."C",
    anchor_value text NOT NULL COLLATE pg_catalog."C",
    size bigint NOT NULL,
    last_seen text COLLATE pg_catalog."C"
);


--
-- Name: profiles_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.profiles_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: profiles_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.profiles_id_seq OWNED BY release_data.profiles.id;


--
-- Name: schema_migrations; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.schema_migrations (
    component text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: sources; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.sources (
    id bigint NOT NULL,
    name text NOT NULL,
    write_key text NOT NULL,
    created_at text NOT NULL
);


--
-- Name: sources_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.sources_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: sources_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.sources_id_seq OWNED BY release_data.sources.id;


--
-- Name: state; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.state (
    name text NOT NULL COLLATE pg_catalog."C",
    value bigint NOT NULL
);


--
-- Name: units; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.units (
    id bigint NOT NULL,
    links bigint DEFAULT 0 NOT NULL,
    members bigint DEFAULT 1 NOT NULL,
    person bigint,
    contested integer DEFAULT 0 NOT NULL,
    split integer DEFAULT 0 NOT NULL
);


--
-- Name: units_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.units_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: units_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.units_id_seq OWNED BY release_data.units.id;


--
-- Name: warnings; Type: TABLE; Schema: release_data; Owner: -
--

CREATE TABLE release_data.warnings (
    id bigint NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL COLLATE pg_catalog."C",
    message_id text NOT NULL COLLATE pg_catalog."C",
    detail text NOT NULL
);


--
-- Name: warnings_id_seq; Type: SEQUENCE; Schema: release_data; Owner: -
--

CREATE SEQUENCE release_data.warnings_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: warnings_id_seq; Type: SEQUENCE OWNED BY; Schema: release_data; Owner: -
--

ALTER SEQUENCE release_data.warnings_id_seq OWNED BY release_data.warnings.id;


--
-- Name: batches id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.batches ALTER COLUMN id SET DEFAULT nextval('release_data.batches_id_seq'::regclass);


--
-- Name: edges id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.edges ALTER COLUMN id SET DEFAULT nextval('release_data.edges_id_seq'::regclass);


--
-- Name: events seq; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.events ALTER COLUMN seq SET DEFAULT nextval('release_data.events_seq'::regclass);


--
-- Name: identifiers id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.identifiers ALTER COLUMN id SET DEFAULT nextval('release_data.identifiers_id_seq'::regclass);


--
-- Name: links id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.links ALTER COLUMN id SET DEFAULT nextval('release_data.links_id_seq'::regclass);


--
-- Name: profiles id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.profiles ALTER COLUMN id SET DEFAULT nextval('release_data.profiles_id_seq'::regclass);


--
-- Name: sources id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.sources ALTER COLUMN id SET DEFAULT nextval('release_data.sources_id_seq'::regclass);


--
-- Name: units id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.units ALTER COLUMN id SET DEFAULT nextval('release_data.units_id_seq'::regclass);


--
-- Name: warnings id; Type: DEFAULT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.warnings ALTER COLUMN id SET DEFAULT nextval('release_data.warnings_id_seq'::regclass);


--
-- Data for Name: admin_sessions; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.admin_sessions (id_hash, created_at, last_seen_at) FROM stdin;
9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c	1796000000	1796000030
\.


--
-- Data for Name: batches; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.batches (id, destination, seqs, events, state, attempts, next_attempt_at, last_error, created_at) FROM stdin;
4	warehouse	[7, 8, 9, 10, 11, 12]	6	pending	0	1796000004	\N	1796000004
1	crm	[1, 2, 3, 4]	4	dead	3	1796000006	HTTP 500 (3)	1796000001
2	crm	[5, 6, 7, 8]	4	pending	1	1796000060	timed out	1796000002
\.


--
-- Data for Name: cursors; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.cursors (destination, seq) FROM stdin;
crm	8
warehouse	12
\.


--
-- Data for Name: destinations; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.destinations (name, config, "position", created_at) FROM stdin;
crm	{"name": "crm", "kind": "webhook", "source": null, "options": {"url": "https://hooks.example.com/audience", "secret": "release-secret"}, "delivery": {"max_attempts": 3, "initial_backoff": 1.0, "max_backoff": 60.0, "batch_size": 100}}	1	1796000000
warehouse	{"name": "warehouse", "kind": "postgres", "source": "web", "options": {"url": "postgresql://warehouse.example/analytics"}, "delivery": {"max_attempts": 10, "initial_backoff": 1.0, "max_backoff": 300.0, "batch_size": 100}}	2	1796000000
\.


--
-- Data for Name: edges; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.edges (id, a, b, kind, ord) FROM stdin;
1	1	2	claim	2026-11-30T00:56:20.000Z2026-11-30T00:56:20.000Zrelease-3identifyanonymous_idanon-1user_idaliceidentify
2	3	2	claim	2026-11-30T00:56:20.000Z2026-11-30T00:56:20.000Zrelease-3identifyemailalice@example.comuser_idaliceidentify
3	4	2	claim	2026-11-30T00:58:20.000Z2026-11-30T00:58:20.000Zrelease-5identifyanonymous_idanon-2user_idaliceidentify
4	6	5	claim	2026-11-30T01:00:20.000Z2026-11-30T01:00:20.000Zrelease-7identifyanonymous_idanon-3user_idbobidentify
5	6	7	claim	2026-11-30T01:01:20.000Z2026-11-30T01:01:20.000Zrelease-8identifyanonymous_idanon-3user_idcarolidentify
6	9	5	claim	2026-11-30T01:02:20.000Z2026-11-30T01:02:20.000Zrelease-9aliasanonymous_idbob-olduser_idbobalias
7	5	8	alias	2026-11-30T01:02:20.000Z2026-11-30T01:02:20.000Zrelease-9aliasuser_idbob-olduser_idbobalias
8	10	11	email	2026-11-30T01:04:20.000Z2026-11-30T01:04:20.000Zrelease-11identifyemaildave@example.comanonymous_idanon-4identify
\.


--
-- Data for Name: event_links; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.event_links (seq, identifier, ord, "timestamp") FROM stdin;
1	1	2026-11-30T00:54:20.000Z2026-11-30T00:54:20.000Zrelease-1page	2026-11-30T00:54:20.000Z
2	1	2026-11-30T00:55:20.000Z2026-11-30T00:55:20.000Zrelease-2track	2026-11-30T00:55:20.000Z
3	2	2026-11-30T00:56:20.000Z2026-11-30T00:56:20.000Zrelease-3identify	2026-11-30T00:56:20.000Z
4	4	2026-11-30T00:57:20.000Z2026-11-30T00:57:20.000Zrelease-4page	2026-11-30T00:57:20.000Z
5	2	2026-11-30T00:58:20.000Z2026-11-30T00:58:20.000Zrelease-5identify	2026-11-30T00:58:20.000Z
6	2	2026-11-30T00:59:20.000Z2026-11-30T00:59:20.000Zrelease-6track	2026-11-30T00:59:20.000Z
7	5	2026-11-30T01:00:20.000Z2026-11-30T01:00:20.000Zrelease-7identify	2026-11-30T01:00:20.000Z
8	7	2026-11-30T01:01:20.000Z2026-11-30T01:01:20.000Zrelease-8identify	2026-11-30T01:01:20.000Z
9	5	2026-11-30T01:02:20.000Z2026-11-30T01:02:20.000Zrelease-9alias	2026-11-30T01:02:20.000Z
10	5	2026-11-30T01:03:20.000Z2026-11-30T01:03:20.000Zrelease-10group	2026-11-30T01:03:20.000Z
11	10	2026-11-30T01:04:20.000Z2026-11-30T01:04:20.000Zrelease-11identify	2026-11-30T01:04:20.000Z
12	10	2026-11-30T01:05:20.000Z2026-11-30T01:05:20.000Zrelease-12track	2026-11-30T01:05:20.000Z
\.


--
-- Data for Name: events; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.events (seq, source, message_id, type, user_id, anonymous_id, event, received_at, "timestamp", request_ip, message) FROM stdin;
1	web	release-1	page	\N	anon-1	\N	2026-11-30T00:54:20Z	2026-11-30T00:54:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d31222c2274696d657374616d70223a22323032362d31312d33305430303a35343a32305a222c2272656365697665644174223a22323032362d31312d33305430303a35343a32305a222c2274797065223a2270616765222c22616e6f6e796d6f75734964223a22616e6f6e2d31222c226e616d65223a22486f6d65227d
2	web	release-2	track	\N	anon-1	Product Viewed	2026-11-30T00:55:20Z	2026-11-30T00:55:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d32222c2274696d657374616d70223a22323032362d31312d33305430303a35353a32305a222c2272656365697665644174223a22323032362d31312d33305430303a35353a32305a222c2274797065223a22747261636b222c22616e6f6e796d6f75734964223a22616e6f6e2d31222c226576656e74223a2250726f6475637420566965776564227d
3	web	release-3	identify	alice	anon-1	\N	2026-11-30T00:56:20Z	2026-11-30T00:56:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d33222c2274696d657374616d70223a22323032362d31312d33305430303a35363a32305a222c2272656365697665644174223a22323032362d31312d33305430303a35363a32305a222c2274797065223a226964656e74696679222c22616e6f6e796d6f75734964223a22616e6f6e2d31222c22757365724964223a22616c696365222c22747261697473223a7b22656d61696c223a22616c696365406578616d706c652e636f6d222c22706c616e223a2270726f227d7d
4	web	release-4	page	\N	anon-2	\N	2026-11-30T00:57:20Z	2026-11-30T00:57:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d34222c2274696d657374616d70223a22323032362d31312d33305430303a35373a32305a222c2272656365697665644174223a22323032362d31312d33305430303a35373a32305a222c2274797065223a2270616765222c22616e6f6e796d6f75734964223a22616e6f6e2d32222c226e616d65223a2250726963696e67227d
5	web	release-5	identify	alice	anon-2	\N	2026-11-30T00:58:20Z	2026-11-30T00:58:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d35222c2274696d657374616d70223a22323032362d31312d33305430303a35383a32305a222c2272656365697665644174223a22323032362d31312d33305430303a35383a32305a222c2274797065223a226964656e74696679222c22616e6f6e796d6f75734964223a22616e6f6e2d32222c22757365724964223a22616c696365222c22747261697473223a7b22706c616e223a227465616d227d7d
6	web	release-6	track	alice	\N	Order Completed	2026-11-30T00:59:20Z	2026-11-30T00:59:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d36222c2274696d657374616d70223a22323032362d31312d33305430303a35393a32305a222c2272656365697665644174223a22323032362d31312d33305430303a35393a32305a222c2274797065223a22747261636b222c22757365724964223a22616c696365222c226576656e74223a224f7264657220436f6d706c65746564222c2270726f70657274696573223a7b22746f74616c223a34327d7d
7	web	release-7	identify	bob	anon-3	\N	2026-11-30T01:00:20Z	2026-11-30T01:00:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d37222c2274696d657374616d70223a22323032362d31312d33305430313a30303a32305a222c2272656365697665644174223a22323032362d31312d33305430313a30303a32305a222c2274797065223a226964656e74696679222c22616e6f6e796d6f75734964223a22616e6f6e2d33222c22757365724964223a22626f62222c22747261697473223a7b226e616d65223a22426f62227d7d
8	web	release-8	identify	carol	anon-3	\N	2026-11-30T01:01:20Z	2026-11-30T01:01:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d38222c2274696d657374616d70223a22323032362d31312d33305430313a30313a32305a222c2272656365697665644174223a22323032362d31312d33305430313a30313a32305a222c2274797065223a226964656e74696679222c22616e6f6e796d6f75734964223a22616e6f6e2d33222c22757365724964223a226361726f6c227d
9	web	release-9	alias	bob	\N	\N	2026-11-30T01:02:20Z	2026-11-30T01:02:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d39222c2274696d657374616d70223a22323032362d31312d33305430313a30323a32305a222c2272656365697665644174223a22323032362d31312d33305430313a30323a32305a222c2274797065223a22616c696173222c2270726576696f75734964223a22626f622d6f6c64222c22757365724964223a22626f62227d
10	web	release-10	group	bob	\N	\N	2026-11-30T01:03:20Z	2026-11-30T01:03:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d3130222c2274696d657374616d70223a22323032362d31312d33305430313a30333a32305a222c2272656365697665644174223a22323032362d31312d33305430313a30333a32305a222c2274797065223a2267726f7570222c22757365724964223a22626f62222c2267726f75704964223a2261636d65222c22747261697473223a7b226e616d65223a2241636d65227d7d
11	web	release-11	identify	\N	anon-4	\N	2026-11-30T01:04:20Z	2026-11-30T01:04:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d3131222c2274696d657374616d70223a22323032362d31312d33305430313a30343a32305a222c2272656365697665644174223a22323032362d31312d33305430313a30343a32305a222c2274797065223a226964656e74696679222c22616e6f6e796d6f75734964223a22616e6f6e2d34222c22747261697473223a7b22656d61696c223a2264617665406578616d706c652e636f6d227d7d
12	web	release-12	track	\N	anon-4	Signed Up	2026-11-30T01:05:20Z	2026-11-30T01:05:20Z	203.0.113.7	\\x7b226d6573736167654964223a2272656c656173652d3132222c2274696d657374616d70223a22323032362d31312d33305430313a30353a32305a222c2272656365697665644174223a22323032362d31312d33305430313a30353a32305a222c2274797065223a22747261636b222c22616e6f6e796d6f75734964223a22616e6f6e2d34222c226576656e74223a225369676e6564205570227d
\.


--
-- Data for Name: group_traits; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.group_traits (group_id, name, value, ord) FROM stdin;
acme	name	"Acme"	2026-11-30T01:03:20.000Z2026-11-30T01:03:20.000Zrelease-10group
\.


--
-- Data for Name: identifier_groups; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.identifier_groups (identifier, group_id, ord) FROM stdin;
5	acme	2026-11-30T01:03:20.000Z2026-11-30T01:03:20.000Zrelease-10group
\.


--
-- Data for Name: identifier_traits; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.identifier_traits (identifier, name, value, ord) FROM stdin;
2	email	"alice@example.com"	2026-11-30T00:56:20.000Z2026-11-30T00:56:20.000Zrelease-3identify
2	plan	"team"	2026-11-30T00:58:20.000Z2026-11-30T00:58:20.000Zrelease-5identify
5	name	"Bob"	2026-11-30T01:00:20.000Z2026-11-30T01:00:20.000Zrelease-7identify
10	email	"dave@example.com"	2026-11-30T01:04:20.000Z2026-11-30T01:04:20.000Zrelease-11identify
\.


--
-- Data for Name: identifiers; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.identifiers (id, type, value, key, profile, unit, user_links, shared, first_seen, last_seen, event_count) FROM stdin;
8	user_id	bob-old	prof_f491901dc54f02f72d4e	6	\N	0	0	\N	\N	0
11	email	dave@example.com	prof_95ac819329311026ef3a	10	10	0	0	\N	\N	0
3	email	alice@example.com	prof_4951405f65ab8ec1578f	1	3	1	0	\N	\N	0
6	anonymous_id	anon-3	prof_0a043a89d7786d30a34c	6	6	2	0	\N	\N	0
9	anonymous_id	bob-old	prof_606ca3fa1ca40cbe9521	6	9	1	0	\N	\N	0
1	anonymous_id	anon-1	prof_4fb98285a5d9d31efa61	1	1	1	0	2026-11-30T00:54:20.000Z	2026-11-30T00:55:20.000Z	2
2	user_id	alice	prof_affd5fa7d6050e04bfd2	1	\N	0	0	2026-11-30T00:56:20.000Z	2026-11-30T00:59:20.000Z	3
4	anonymous_id	anon-2	prof_fe25494dbba5860fb680	1	4	1	0	2026-11-30T00:57:20.000Z	2026-11-30T00:57:20.000Z	1
5	user_id	bob	prof_7636e28aea8115805f69	6	\N	0	0	2026-11-30T01:00:20.000Z	2026-11-30T01:03:20.000Z	3
7	user_id	carol	prof_586ad2fc10dc011a3832	7	\N	0	0	2026-11-30T01:01:20.000Z	2026-11-30T01:01:20.000Z	1
10	anonymous_id	anon-4	prof_f0620db89596c1c70a4c	10	10	0	0	2026-11-30T01:04:20.000Z	2026-11-30T01:05:20.000Z	2
\.


--
-- Data for Name: links; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.links (id, seq, a, b, kind, ord, "timestamp", message_id, edge) FROM stdin;
1	3	1	2	identify	2026-11-30T00:56:20.000Z2026-11-30T00:56:20.000Zrelease-3identifyanonymous_idanon-1user_idaliceidentify	2026-11-30T00:56:20.000Z	release-3	1
2	3	3	2	identify	2026-11-30T00:56:20.000Z2026-11-30T00:56:20.000Zrelease-3identifyemailalice@example.comuser_idaliceidentify	2026-11-30T00:56:20.000Z	release-3	2
3	5	4	2	identify	2026-11-30T00:58:20.000Z2026-11-30T00:58:20.000Zrelease-5identifyanonymous_idanon-2user_idaliceidentify	2026-11-30T00:58:20.000Z	release-5	3
4	7	6	5	identify	2026-11-30T01:00:20.000Z2026-11-30T01:00:20.000Zrelease-7identifyanonymous_idanon-3user_idbobidentify	2026-11-30T01:00:20.000Z	release-7	4
5	8	6	7	identify	2026-11-30T01:01:20.000Z2026-11-30T01:01:20.000Zrelease-8identifyanonymous_idanon-3user_idcarolidentify	2026-11-30T01:01:20.000Z	release-8	5
6	9	9	5	alias	2026-11-30T01:02:20.000Z2026-11-30T01:02:20.000Zrelease-9aliasanonymous_idbob-olduser_idbobalias	2026-11-30T01:02:20.000Z	release-9	6
7	9	8	5	alias	2026-11-30T01:02:20.000Z2026-11-30T01:02:20.000Zrelease-9aliasuser_idbob-olduser_idbobalias	2026-11-30T01:02:20.000Z	release-9	7
8	11	11	10	identify	2026-11-30T01:04:20.000Z2026-11-30T01:04:20.000Zrelease-11identifyemaildave@example.comanonymous_idanon-4identify	2026-11-30T01:04:20.000Z	release-11	8
\.


--
-- Data for Name: meta; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.meta (key, value) FROM stdin;
admin_token	release-admin-token
\.


--
-- Data for Name: outcomes; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.outcomes (destination, delivered_events, last_delivered_at, last_error, last_error_at) FROM stdin;
crm	0	\N	timed out	1796000007
warehouse	6	1796000008	\N	\N
\.


--
-- Data for Name: profiles; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.profiles (id, public_id, anchor_type, anchor_value, size, last_seen) FROM stdin;
1	prof_affd5fa7d6050e04bfd2	user_id	alice	4	2026-11-30T00:59:20.000Z
6	prof_7636e28aea8115805f69	user_id	bob	4	2026-11-30T01:03:20.000Z
7	prof_586ad2fc10dc011a3832	user_id	carol	1	2026-11-30T01:01:20.000Z
10	prof_95ac819329311026ef3a	email	dave@example.com	2	2026-11-30T01:05:20.000Z
\.


--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.schema_migrations (component, version, name, applied_at) FROM stdin;
events	1	0001_events.sql	2026-12-03 08:07:10.057266+00
events	2	0002_admin_sessions.sql	2026-12-03 08:07:10.057266+00
profiles	1	0001_profiles.sql	2026-12-03 08:07:10.217486+00
profiles	2	0002_units.sql	2026-12-03 08:07:10.217486+00
deliveries	1	0001_deliveries.sql	2026-12-03 08:07:10.455039+00
\.


--
-- Data for Name: sources; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.sources (id, name, write_key, created_at) FROM stdin;
1	web	release-web-key	2026-11-30T00:53:20.000Z
2	backend	release-backend-key	2026-11-30T00:53:20.000Z
\.


--
-- Data for Name: state; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.state (name, value) FROM stdin;
generation	2
link_email	1
shared_after	10
unit_links	1000
cursor	12
\.


--
-- Data for Name: units; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.units (id, links, members, person, contested, split) FROM stdin;
1	1	1	2	0	0
3	1	1	2	0	0
4	1	1	2	0	0
6	2	1	5	1	0
9	1	1	5	0	0
10	1	2	\N	0	0
\.


--
-- Data for Name: warnings; Type: TABLE DATA; Schema: release_data; Owner: -
--

COPY release_data.warnings (id, seq, kind, message_id, detail) FROM stdin;
\.


--
-- Name: batches_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.batches_id_seq', 4, true);


--
-- Name: edges_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.edges_id_seq', 1, false);


--
-- Name: events_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.events_seq', 12, true);


--
-- Name: identifiers_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.identifiers_id_seq', 1, false);


--
-- Name: links_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.links_id_seq', 8, true);


--
-- Name: profiles_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.profiles_id_seq', 1, false);


--
-- Name: sources_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.sources_id_seq', 2, true);


--
-- Name: units_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.units_id_seq', 1, false);


--
-- Name: warnings_id_seq; Type: SEQUENCE SET; Schema: release_data; Owner: -
--

SELECT pg_catalog.setval('release_data.warnings_id_seq', 1, false);


--
-- Name: admin_sessions admin_sessions_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.admin_sessions
    ADD CONSTRAINT admin_sessions_pkey PRIMARY KEY (id_hash);


--
-- Name: batches batches_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.batches
    ADD CONSTRAINT batches_pkey PRIMARY KEY (id);


--
-- Name: cursors cursors_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.cursors
    ADD CONSTRAINT cursors_pkey PRIMARY KEY (destination);


--
-- Name: destinations destinations_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.destinations
    ADD CONSTRAINT destinations_pkey PRIMARY KEY (name);


--
-- Name: edges edges_a_b_key; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.edges
    ADD CONSTRAINT edges_a_b_key UNIQUE (a, b);


--
-- Name: edges edges_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.edges
    ADD CONSTRAINT edges_pkey PRIMARY KEY (id);


--
-- Name: event_links event_links_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.event_links
    ADD CONSTRAINT event_links_pkey PRIMARY KEY (seq);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (seq);


--
-- Name: group_traits group_traits_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.group_traits
    ADD CONSTRAINT group_traits_pkey PRIMARY KEY (group_id, name);


--
-- Name: identifier_groups identifier_groups_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.identifier_groups
    ADD CONSTRAINT identifier_groups_pkey PRIMARY KEY (identifier, group_id);


--
-- Name: identifier_traits identifier_traits_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.identifier_traits
    ADD CONSTRAINT identifier_traits_pkey PRIMARY KEY (identifier, name);


--
-- Name: identifiers identifiers_key_key; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.identifiers
    ADD CONSTRAINT identifiers_key_key UNIQUE (key);


--
-- Name: identifiers identifiers_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.identifiers
    ADD CONSTRAINT identifiers_pkey PRIMARY KEY (id);


--
-- Name: identifiers identifiers_type_value_key; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.identifiers
    ADD CONSTRAINT identifiers_type_value_key UNIQUE (type, value);


--
-- Name: links links_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.links
    ADD CONSTRAINT links_pkey PRIMARY KEY (id);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: outcomes outcomes_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.outcomes
    ADD CONSTRAINT outcomes_pkey PRIMARY KEY (destination);


--
-- Name: profiles profiles_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.profiles
    ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);


--
-- Name: profiles profiles_public_id_key; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.profiles
    ADD CONSTRAINT profiles_public_id_key UNIQUE (public_id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (component, version);


--
-- Name: sources sources_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.sources
    ADD CONSTRAINT sources_pkey PRIMARY KEY (name);


--
-- Name: sources sources_write_key_key; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.sources
    ADD CONSTRAINT sources_write_key_key UNIQUE (write_key);


--
-- Name: state state_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.state
    ADD CONSTRAINT state_pkey PRIMARY KEY (name);


--
-- Name: units units_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.units
    ADD CONSTRAINT units_pkey PRIMARY KEY (id);


--
-- Name: warnings warnings_pkey; Type: CONSTRAINT; Schema: release_data; Owner: -
--

ALTER TABLE ONLY release_data.warnings
    ADD CONSTRAINT warnings_pkey PRIMARY KEY (id);


--
-- Name: batches_by_destination; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX batches_by_destination ON release_data.batches USING btree (destination, state, id);


--
-- Name: edges_b; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX edges_b ON release_data.edges USING btree (b);


--
-- Name: edges_claims; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX edges_claims ON release_data.edges USING btree (a, kind, ord);


--
-- Name: event_links_identifier; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX event_links_identifier ON release_data.event_links USING btree (identifier, ord);


--
-- Name: events_by_message_id; Type: INDEX; Schema: release_data; Owner: -
--

CREATE UNIQUE INDEX events_by_message_id ON release_data.events USING btree (source, message_id);


--
-- Name: identifiers_profile; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX identifiers_profile ON release_data.identifiers USING btree (profile, last_seen);


--
-- Name: identifiers_unit; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX identifiers_unit ON release_data.identifiers USING btree (unit);


--
-- Name: links_a; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX links_a ON release_data.links USING btree (a);


--
-- Name: links_b; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX links_b ON release_data.links USING btree (b);


--
-- Name: profiles_last_seen; Type: INDEX; Schema: release_data; Owner: -
--

CREATE INDEX profiles_last_seen ON release_data.profiles USING btree (last_seen);


--
-- PostgreSQL database dump complete
--

\unrestrict fUSGZ9FzN4AqWOV2DO8KbPuimjHOkRlpMn0T9rRyr6Dl8ZdbiJ5p8bMmrLcgkez

