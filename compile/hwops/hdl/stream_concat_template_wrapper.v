// Generated from compile/hwops/hdl/stream_concat_template_wrapper.v by compile/hwops/stream_join_fork.py:
// node $TOP_MODULE_NAME$, FINN's StreamingConcat in RTL (stream_concat.sv: stream_concat, or stream_zip
// where every input's whole position is one beat), with AXI-stream ports named
// and padded to whole bytes as FINN's IP integration expects of every layer. Each input's elements are
// widened here to the output's element width (sign-extended where the input is signed).
module $TOP_MODULE_NAME$ (
	//- Global Control ------------------
	(* X_INTERFACE_INFO = "xilinx.com:signal:clock:1.0 ap_clk CLK" *)
	(* X_INTERFACE_PARAMETER = "ASSOCIATED_BUSIF $BUSIF$, ASSOCIATED_RESET ap_rst_n" *)
	input	ap_clk,
	(* X_INTERFACE_PARAMETER = "POLARITY ACTIVE_LOW" *)
	input	ap_rst_n,

	//- AXI Streams ---------------------
$PORTS$
);

	wire [$N$-1:0][$IN_BEAT_BITS$-1:0]  idata;
	wire [$N$-1:0]  ivalid;
	wire [$N$-1:0]  iready;
	wire [$BEAT_BITS$-1:0]  odata;

$BODY$

	$CORE$ impl (
		.clk(ap_clk),
		.rst_n(ap_rst_n),
		.in_tdata(idata),
		.in_tvalid(ivalid),
		.in_tready(iready),
		.out_tdata(odata),
		.out_tvalid(out0_V_TVALID),
		.out_tready(out0_V_TREADY)
	);

	assign	out0_V_TDATA = $OUT_TDATA$;  // zero-padded to whole bytes

endmodule
