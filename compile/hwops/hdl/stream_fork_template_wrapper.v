// Generated from compile/hwops/hdl/stream_fork_template_wrapper.v by compile/hwops/stream_join_fork.py:
// node $TOP_MODULE_NAME$, FINN's DuplicateStreams in RTL (stream_fork.sv), with AXI-stream ports named
// and padded to whole bytes as FINN's IP integration expects of every layer.
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

	wire [$N$-1:0][$STREAM_BITS$-1:0]  odata;
	wire [$N$-1:0]  ovalid;
	wire [$N$-1:0]  oready;

	stream_fork #(
		.WIDTH($STREAM_BITS$),
		.N($N$)
	) impl (
		.clk(ap_clk),
		.rst_n(ap_rst_n),
		.in_tdata(in0_V_TDATA),
		.in_tvalid(in0_V_TVALID),
		.in_tready(in0_V_TREADY),
		.out_tdata(odata),
		.out_tvalid(ovalid),
		.out_tready(oready)
	);

$BODY$
endmodule
