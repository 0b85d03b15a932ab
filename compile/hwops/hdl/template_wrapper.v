// Generated from compile/hwops/hdl/template_wrapper.v by compile/hwops/template_rtl.py: node $TOP_MODULE_NAME$
// ($OP_TYPE$), our core $CORE$ with AXI-stream ports named and padded to whole bytes as FINN's IP
// integration expects of every layer.
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

$BEFORE$

	$CORE$ #(
$PARAMETERS$
	) impl (
$CONNECTIONS$
	);

$AFTER$

endmodule
